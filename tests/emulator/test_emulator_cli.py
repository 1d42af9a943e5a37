"""``python -m bot.emulator`` in the foreground: one ready line, Ctrl-C stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from slack_sdk import WebClient

REPO = Path(__file__).resolve().parents[2]
COMMAND = [
    sys.executable,
    "-m",
    "bot.emulator",
    "--signing-secret",
    "abc",
    "--user",
    "U123:Europe/Berlin:ana@example.com",
]


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.slow
@pytest.mark.parametrize(
    "started_with",
    [None, _ignore_sigint],
    ids=["from a terminal", "with SIGINT ignored (`&` in a shell without job control)"],
)
def test_standalone_emulator_serves_and_stops_on_ctrl_c(
    started_with: Callable[[], None] | None,
) -> None:
    process = subprocess.Popen(
        COMMAND,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=started_with,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"SLACK_API_URL=(\S+)", line)
        assert match, line
        client = WebClient(base_url=match.group(1), token="xoxb-emulator")

        user = client.users_info(user="U123")["user"]

        assert "SLACK_BOT_TOKEN=xoxb-emulator" in line
        assert "SLACK_SIGNING_SECRET=abc" in line
        assert user["tz"] == "Europe/Berlin"
        assert user["profile"]["email"] == "ana@example.com"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0
    assert "Traceback" not in stderr
