"""Real ``heedful run`` processes for the tests: started with an environment of the
test's making, their log read line by line in the background."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from waiting import wait_until

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
LISTENING = re.compile(r"listening on (http://\S+)")
RUNNING = re.compile(r"Heedful is running")


class Process:
    """A ``heedful run`` child whose log (stderr) is read in the background."""

    def __init__(self, role: str, env: dict[str, str], cwd: Path, *args: str) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [HEEDFUL, "run", "--role", role, *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._lock:
                self.lines.append(line)

    @property
    def log(self) -> str:
        """Everything the process has written to its log so far."""
        with self._lock:
            return "".join(self.lines)

    def wait_for(self, pattern: re.Pattern[str] | str, timeout: float = 60) -> re.Match[str]:
        """The first log line matching ``pattern`` (fails early if the process exits)."""
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def found() -> re.Match[str] | bool | None:
            with self._lock:
                lines = list(self.lines)
            for line in lines:
                if match := regex.search(line):
                    return match
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the process exited ({self.proc.returncode}) before {regex.pattern!r}:\n"
                    + self.log
                )
            return None

        try:
            return wait_until(found, timeout=timeout, what=repr(regex.pattern))
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.log}") from None

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, then the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def kill(self) -> None:
        """SIGKILL: no clean-up of any kind, as in a crash."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
