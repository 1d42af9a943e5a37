"""``python -m bot.emulator`` in the foreground: one ready line, Ctrl-C stops it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from slack_sdk import WebClient

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_standalone_emulator_serves_and_stops_on_ctrl_c() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bot.emulator",
            "--signing-secret",
            "abc",
            "--user",
            "U123:Europe/Berlin:ana@example.com",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "Traceback" not in stderr
