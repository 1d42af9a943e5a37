"""One HTTP POST for the tests that send exact bytes and headers (forged, replayed,
malformed requests) and look at the answer, whatever its status."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """POST ``body`` with exactly ``headers``: the answer's status and body, a 4xx or a
    5xx as much as a 200."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


# waitress notes that requests are queued when all its threads are busy: a sign of a busy
# machine, logged whatever the request holds, so not a line the request made Heedful write.
_LOAD_NOTES = frozenset({"waitress.queue"})


def request_log(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The log records a request made Heedful write (everything but the load notes)."""
    return [record for record in caplog.records if record.name not in _LOAD_NOTES]
