from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import DEFAULT_SLACK_API_URL, ConfigError, Settings, load_settings


def test_defaults_match_the_design() -> None:
    s = Settings.from_env({})
    assert s.slack_api_url == DEFAULT_SLACK_API_URL
    assert s.database_url == "sqlite:///heedful.db"
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.encryption_keys == () and not s.socket_mode


def test_api_url_gets_its_trailing_slash_and_keys_split() -> None:
    s = Settings.from_env(
        {"SLACK_API_URL": "http://127.0.0.1:9/api", "HEEDFUL_ENCRYPTION_KEY": "a, b"}
    )
    assert s.slack_api_url == "http://127.0.0.1:9/api/"
    assert s.encryption_keys == ("a", "b")


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ],
)
def test_missing_credentials_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env).require_slack()
    message = str(info.value)
    assert named in message and "heedful demo" in message and "\n" not in message


def test_socket_mode_needs_no_signing_secret() -> None:
    Settings.from_env({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}).require_slack()


@pytest.mark.parametrize(
    "env",
    [{"HEEDFUL_PORT": "http"}, {"HEEDFUL_PORT": "70000"}, {"HEEDFUL_AUTO_MIGRATE": "maybe"}],
)
def test_malformed_values_are_one_line_errors(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match=next(iter(env))):
        Settings.from_env(env)


def test_real_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("SLACK_BOT_TOKEN=xoxb-file\nHEEDFUL_PORT=4000\n")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-real")
    monkeypatch.delenv("HEEDFUL_PORT", raising=False)
    s = load_settings(env_file)
    assert s.slack_bot_token == "xoxb-real"
    assert s.port == 4000


def test_calendar_poll_interval_defaults_to_five_minutes_and_is_bounded() -> None:
    assert Settings.from_env({}).calendar_poll_minutes == 5
    assert Settings.from_env({"HEEDFUL_CALENDAR_POLL_MINUTES": "30"}).calendar_poll_minutes == 30
    for bad in ("0", "1441", "soon"):
        with pytest.raises(ConfigError, match="HEEDFUL_CALENDAR_POLL_MINUTES"):
            Settings.from_env({"HEEDFUL_CALENDAR_POLL_MINUTES": bad})
