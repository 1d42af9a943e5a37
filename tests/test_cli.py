"""The installed ``heedful`` command, run as a person would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
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


# ------------------------------------------------------- config mistakes get one clear line

REPOSITORY = Path(__file__).resolve().parent.parent


def _clean_env() -> dict[str, str]:
    """No Slack, Heedful or database setting from the environment running the tests."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SLACK_", "HEEDFUL_")) and k != "DATABASE_URL"
    }


def test_run_with_env_example_copied_unchanged_stops_before_creating_anything(
    tmp_path: Path,
) -> None:
    """`cp .env.example .env && heedful run`: the placeholder token is named, and no
    database file appears (it used to be created, then Slack answered a network error)."""
    shutil.copy(REPOSITORY / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [HEEDFUL, "run"],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("heedful: SLACK_BOT_TOKEN still holds a placeholder")
    assert "Bot User OAuth Token" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


def test_run_names_a_placeholder_signing_secret_and_a_token_of_the_wrong_kind(
    tmp_path: Path,
) -> None:
    (tmp_path / ".env").write_text(
        "SLACK_BOT_TOKEN=xoxb-1234-5678-abcdefghijklmnopqrstuvwx\n"
        "SLACK_SIGNING_SECRET=your-signing-secret\n"
    )
    secret = _run("run", cwd=tmp_path, env=_clean_env())
    assert secret.returncode == 2
    assert secret.stderr.startswith("heedful: SLACK_SIGNING_SECRET still holds a placeholder")

    env = {**_clean_env(), "SLACK_BOT_TOKEN": "xoxp-1234-5678-abcdef", "SLACK_SIGNING_SECRET": "s"}
    user_token = _run("run", cwd=tmp_path, env=env)
    assert user_token.returncode == 2
    (line,) = user_token.stderr.strip().splitlines()
    assert "SLACK_BOT_TOKEN must start with xoxb- and this one starts with 'xoxp-'" in line
    assert "1234" not in line  # a token is never echoed
    assert sorted(p.name for p in tmp_path.iterdir()) == [".env"]


@pytest.mark.parametrize("command", ["keys", "db", "calendar", "calendar hook"])
def test_a_command_without_its_action_prints_its_own_help(tmp_path: Path, command: str) -> None:
    result = _run(*command.split(), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout.startswith(f"usage: heedful {command} ")
    assert "ACTION" in result.stdout and "options:" in result.stdout
    assert "Traceback" not in result.stderr


def test_the_emulator_run_by_a_python_without_the_dependencies_says_so_in_one_line() -> None:
    """`python3 -m bot.emulator` from the repository with a Python that lacks Heedful's
    dependencies (here: the venv's Python with site-packages off, -S)."""
    result = subprocess.run(
        [sys.executable, "-S", "-m", "bot.emulator"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert "lacks Heedful's dependencies" in line
    assert line.endswith("run it with the project's virtualenv: .venv/bin/python -m bot.emulator")
