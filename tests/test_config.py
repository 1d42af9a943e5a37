from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import (
    DEFAULT_SLACK_API_URL,
    EXAMPLE_VALUES,
    ConfigError,
    Settings,
    is_placeholder,
    load_settings,
)


def test_defaults_match_the_design() -> None:
    s = Settings.from_env({})
    assert s.slack_api_url == DEFAULT_SLACK_API_URL
    assert s.database_url == "sqlite:///heedful.db"
    assert (s.host, s.port) == ("127.0.0.1", 3000)
    assert s.encryption_keys == () and not s.socket_mode


def test_log_format_is_text_unless_json_is_asked_for() -> None:
    assert Settings.from_env({}).log_format == "text"
    assert Settings.from_env({"HEEDFUL_LOG_FORMAT": "JSON"}).log_format == "json"
    assert Settings.from_env({"HEEDFUL_LOG_FORMAT": "text"}).log_format == "text"


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
    # … so the placeholder .env.example leaves there does not stop Socket Mode.
    Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1",
            "SLACK_APP_TOKEN": "xapp-1",
            "SLACK_SIGNING_SECRET": "your-signing-secret",
        }
    ).require_slack()


@pytest.mark.parametrize(
    "env",
    [
        {"HEEDFUL_PORT": "http"},
        {"HEEDFUL_PORT": "70000"},
        {"HEEDFUL_AUTO_MIGRATE": "maybe"},
        {"HEEDFUL_LOG_FORMAT": "logfmt"},
    ],
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


# Shapes a person pastes in place of a real credential.
FAKE = [
    "xoxb-your-bot-token",
    "your-signing-secret",
    "xapp-your-app-token",
    "xoxb-...",
    "xoxb-…",
    "xoxb-xxxxxxxxxxxx-xxxxxxxxxxxx",
    "<your token>",
    "{SLACK_BOT_TOKEN}",
    "changeme",
    "your_secret_here",
    "xoxb-000000000-000000000-abc",
    "xoxb-",
]
# What real credentials, the emulator's and the tests' look like.
REAL = [
    "xoxb-1234567890123-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
    "xapp-1-A0123456789-1234567890123-0123456789abcdef0123456789abcdef",
    "8f742231b10e8888abcd99yez67291ac",
    "xoxb-emulator",
    "test-signing-secret",
    "s3cr3t",
]


@pytest.mark.parametrize("value", FAKE)
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", REAL)
def test_real_shapes_are_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_every_slack_value_in_env_example_is_a_known_placeholder() -> None:
    """`.env.example` and the list `heedful run` recognises stay in step."""
    example = Path(__file__).resolve().parent.parent / ".env.example"
    values = {}
    for line in example.read_text().splitlines():
        name, sep, value = line.lstrip("#").strip().partition("=")
        if sep and name.startswith("SLACK_") and name != "SLACK_API_URL":
            values[name] = value
    assert set(values) == {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN"}
    assert set(values.values()) <= EXAMPLE_VALUES


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"SLACK_BOT_TOKEN": "xoxb-your-bot-token"}, "SLACK_BOT_TOKEN still holds a placeholder"),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "your-signing-secret"},
            "SLACK_SIGNING_SECRET still holds a placeholder",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-your-app-token"},
            "SLACK_APP_TOKEN still holds a placeholder",
        ),
        (
            {"SLACK_BOT_TOKEN": "xapp-1-A1-2-abc", "SLACK_SIGNING_SECRET": "s"},
            "SLACK_BOT_TOKEN must start with xoxb- and this one starts with 'xapp-'",
        ),
        (
            {"SLACK_BOT_TOKEN": "1234-abc", "SLACK_SIGNING_SECRET": "s"},
            "SLACK_BOT_TOKEN must start with xoxb- and this one does not",
        ),
        (
            {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xoxb-2"},
            "SLACK_APP_TOKEN must start with xapp- and this one starts with 'xoxb-'",
        ),
    ],
)
def test_placeholders_and_wrong_kinds_of_token_are_one_line_errors(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env).require_slack()
    message = str(info.value)
    assert named in message and "\n" not in message


def test_google_is_off_until_a_client_and_a_public_address_are_set() -> None:
    assert not Settings.from_env({}).google_enabled
    partial = {"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "GOCSPX-s3cr3t"}
    assert not Settings.from_env(partial).google_enabled
    full = Settings.from_env({**partial, "HEEDFUL_PUBLIC_URL": "https://heedful.example.com/"})
    assert full.google_enabled and full.public_url == "https://heedful.example.com"
    assert full.google_token_uri == "https://oauth2.googleapis.com/token"
    assert full.google_calendar_api_url == "https://www.googleapis.com/calendar/v3/"
    assert "s3cr3t" not in repr(full)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GOOGLE_TOKEN_URI", "http://oauth2.example.com/token"),  # http off loopback
        ("GOOGLE_AUTH_URI", "ftp://127.0.0.1/auth"),
        ("GOOGLE_CALENDAR_API_URL", "not a url"),
        ("HEEDFUL_PUBLIC_URL", "http://heedful.example.com"),  # Google pushes to https only
        ("HEEDFUL_PUBLIC_URL", "https://heedful.example.com/?x=1"),
    ],
)
def test_google_endpoints_are_https_or_a_local_fake(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_a_local_fake_google_may_speak_http_on_loopback() -> None:
    s = Settings.from_env(
        {
            "GOOGLE_TOKEN_URI": "http://127.0.0.1:8123/token",
            "GOOGLE_CALENDAR_API_URL": "http://localhost:8123/calendar/v3",
            "HEEDFUL_PUBLIC_URL": "http://127.0.0.1:3000",
        }
    )
    assert s.google_token_uri == "http://127.0.0.1:8123/token"
    assert s.google_calendar_api_url == "http://localhost:8123/calendar/v3/"


def test_no_credential_is_in_the_settings_repr() -> None:
    s = Settings.from_env(
        {
            "SLACK_BOT_TOKEN": "xoxb-1-tok3n",
            "SLACK_SIGNING_SECRET": "s1gn1ng",
            "SLACK_APP_TOKEN": "xapp-1-app",
            "HEEDFUL_ENCRYPTION_KEY": "k3y",
        }
    )
    assert not any(v in repr(s) for v in ("tok3n", "s1gn1ng", "xapp-1-app", "k3y"))


def test_microsoft_is_off_until_an_app_and_a_public_address_are_set() -> None:
    assert not Settings.from_env({}).microsoft_enabled
    partial = {"MICROSOFT_CLIENT_ID": "6731de76", "MICROSOFT_CLIENT_SECRET": "abc~s3cr3t"}
    assert not Settings.from_env(partial).microsoft_enabled
    full = Settings.from_env({**partial, "HEEDFUL_PUBLIC_URL": "https://heedful.example.com"})
    assert full.microsoft_enabled and full.microsoft_tenant == "common"
    assert full.microsoft_authority_url == "https://login.microsoftonline.com"
    assert full.microsoft_graph_url == "https://graph.microsoft.com/v1.0"
    assert "s3cr3t" not in repr(full)
    local = Settings.from_env(
        {
            "MICROSOFT_TENANT": "contoso.onmicrosoft.com",
            "MICROSOFT_AUTHORITY_URL": "https://127.0.0.1:8443/",
            "MICROSOFT_GRAPH_URL": "http://127.0.0.1:8080/v1.0/",
        }
    )
    assert local.microsoft_tenant == "contoso.onmicrosoft.com"
    assert local.microsoft_authority_url == "https://127.0.0.1:8443"
    assert local.microsoft_graph_url == "http://127.0.0.1:8080/v1.0"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MICROSOFT_AUTHORITY_URL", "http://127.0.0.1:8443"),  # MSAL wants https, even a fake
        ("MICROSOFT_AUTHORITY_URL", "https://login.microsoftonline.com/common"),  # no tenant
        ("MICROSOFT_GRAPH_URL", "http://graph.example.com/v1.0"),  # http off loopback
        ("MICROSOFT_TENANT", "common/../evil"),
    ],
)
def test_microsoft_endpoints_and_tenant_are_checked(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})
