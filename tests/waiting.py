"""Waiting for a condition, the one way the tests do it.

A test waits for the exact condition it asserts, never for a fixed time or a
neighbouring event. The timeout is only how long to keep trying before the test
fails: it is generous because a busy CI machine can be many times slower than a
laptop, and a passing test never waits for it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

DEFAULT_TIMEOUT = 30.0


def wait_until(
    check: Callable[[], T], *, timeout: float = DEFAULT_TIMEOUT, what: str = "the condition"
) -> T:
    """Poll ``check`` until it returns something truthy, and return that.

    Raises ``AssertionError`` naming ``what`` when ``timeout`` seconds pass first.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
