"""The installed ``heedful`` command, run as a person would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

HEEDFUL = shutil.which("heedful", path=str(Path(sys.executable).parent)) or "heedful"
SLACK_VARS = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN")


def _run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in SLACK_VARS}
    return subprocess.run(
        [HEEDFUL, *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_works_outside_the_repository(tmp_path: Path) -> None:
    result = _run("--help", cwd=tmp_path)
    assert result.returncode == 0
    assert "run" in result.stdout and "db" in result.stdout


def test_run_without_credentials_exits_2_with_one_line(tmp_path: Path) -> None:
    result = _run("run", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SLACK_BOT_TOKEN" in lines[0] and "heedful demo" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


def test_run_with_a_token_but_no_secret_names_the_secret(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("SLACK_BOT_TOKEN=xoxb-from-dotenv\n")
    result = _run("run", cwd=tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr and "Traceback" not in result.stderr


def test_run_against_an_unreachable_slack_fails_in_one_line(tmp_path: Path) -> None:
    env = {
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # discard port: nothing listens
        "DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}",
        "HEEDFUL_PORT": "0",
    }
    result = _run("run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "could not start" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    result = _run("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    tables = set(sa.inspect(sa.create_engine(url)).get_table_names())
    assert {"delivery", "inbox", "installation", "slack_user", "reflection"} <= tables


def test_keys_rotate_needs_a_key_and_then_encrypts_what_was_plain(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    url = f"sqlite:///{tmp_path / 'h.db'}"
    assert _run("db", "upgrade", cwd=tmp_path, env={"DATABASE_URL": url}).returncode == 0
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("INSERT INTO installation (team_id, bot_token) VALUES ('T1', 'xoxb-plain')")
        )

    refused = _run("keys", "rotate", cwd=tmp_path, env={"DATABASE_URL": url})
    assert refused.returncode == 2 and "HEEDFUL_ENCRYPTION_KEY" in refused.stderr

    key = Fernet.generate_key().decode()
    env = {"DATABASE_URL": url, "HEEDFUL_ENCRYPTION_KEY": key}
    result = _run("keys", "rotate", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "re-encrypted 1 values" in result.stdout
    with engine.connect() as conn:
        token = conn.execute(sa.text("SELECT bot_token FROM installation")).scalar_one()
    assert token.startswith("fernet:") and "xoxb-plain" not in token
