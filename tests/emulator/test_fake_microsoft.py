"""The fake Microsoft against MSAL for Python and httpx, over real TLS on loopback.

MSAL's ``ConfidentialClientApplication`` signs in (auth-code flow with PKCE), caches and
refreshes; httpx calls Graph; the validation requests, notifications and lifecycle events
arrive at a real HTTP receiver. No mocks: every assertion is on what crossed the wire.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
import jwt
import msal
import pytest
import requests
from waiting import wait_until

from bot.emulator import FakeMicrosoft

CLIENT_ID = "6731de76-14a6-49ae-97bc-6eba6914391e"
CLIENT_SECRET = "fake~client~secret"
PUBLIC = "https://heedful.test"
REDIRECT = f"{PUBLIC}/oauth/microsoft/callback"
HOOK = f"{PUBLIC}/hooks/microsoft"
LIFECYCLE = f"{PUBLIC}/hooks/microsoft/lifecycle"
SCOPES = ["Calendars.Read"]
ANA = "ana@contoso.com"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin
VALIDATION_TIMEOUT = 1.0

pytestmark = pytest.mark.filterwarnings("ignore:response_mode='form_post' is recommended")


class Receiver:
    """A real HTTP endpoint standing in for the app's ``/hooks/microsoft`` routes.

    ``mode`` says how it answers a validation request: ``good`` (200, text/plain, the
    decoded token), ``html`` (the token reflected in an HTML page), ``raw`` (the token as it
    came in the query string, still URL-encoded), ``status`` (202, empty) or ``slow`` (blocks
    until released, beyond the fake's validation limit). Notifications get ``status``.
    """

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.mode = "good"
        self.status = 202
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                raw = urlsplit(self.path).query.partition("validationToken=")[2]
                if raw:
                    self._validation(raw, parse_qs(urlsplit(self.path).query)["validationToken"][0])
                    return
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _validation(self, raw: str, token: str) -> None:
                mode = outer.mode
                if mode == "slow":
                    outer.release.wait(timeout=30)
                status, kind, text = 200, "text/plain; charset=utf-8", token
                if mode == "html":
                    kind, text = "text/html", f"<html><body>{token}</body></html>"
                elif mode == "raw":
                    text = raw
                elif mode == "status":
                    status, text = 202, ""
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )

    def posted(self, path_prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["path"].startswith(path_prefix)]


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join()


def _start(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch, **kwargs: Any
) -> Iterator[FakeMicrosoft]:
    with FakeMicrosoft(clock=lambda: NOW, validation_timeout=VALIDATION_TIMEOUT, **kwargs) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_file)
        monkeypatch.setenv("SSL_CERT_FILE", fake.ca_file)
        fake.route(PUBLIC, receiver.url)
        fake.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT])
        fake.add_account(ANA, name="Ana Lopez")
        yield fake


@pytest.fixture(name="fake")
def fake_fixture(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicrosoft]:
    """A fake Microsoft on a pinned clock, changes queued until ``notify``."""
    yield from _start(receiver, monkeypatch, auto_notify=False)


def new_app(
    fake: FakeMicrosoft, *, secret: str = CLIENT_SECRET, cache: msal.TokenCache | None = None
) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        CLIENT_ID,
        client_credential=secret,
        authority=f"{fake.authority_url}/common",
        instance_discovery=False,
        token_cache=cache,
    )


def browse(url: str) -> requests.Response:
    """What the browser gets from the sign-in page (the fake signs in at once)."""
    return requests.get(url, allow_redirects=False, timeout=10)


def answer_of(response: requests.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def sign_in(
    app: msal.ConfidentialClientApplication, scopes: list[str] = SCOPES
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """The whole flow; returns (flow, MSAL's result, the redirect's query)."""
    flow = app.initiate_auth_code_flow(scopes, redirect_uri=REDIRECT)
    back = answer_of(browse(flow["auth_uri"]))
    return flow, app.acquire_token_by_auth_code_flow(dict(flow), back), back


def connect(fake: FakeMicrosoft, scopes: list[str] = SCOPES) -> str:
    """Sign in and return an access token."""
    _, result, _ = sign_in(new_app(fake), scopes)
    return result["access_token"]


def calendar(fake: FakeMicrosoft, token: str) -> httpx.Response:
    """A first delta page: what a token with ``Calendars.Read`` may read."""
    return graph(fake, token).get("/me/calendarView/delta", params=WINDOW)


def graph(fake: FakeMicrosoft, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=fake.graph_url, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )


def meeting(fake: FakeMicrosoft, hour: int, day: int = 7, **fields: Any) -> dict[str, Any]:
    start = datetime(2026, 12, day, hour, tzinfo=BERLIN)
    fields.setdefault("subject", f"meeting at {hour}")
    return fake.add_event(ANA, start=start, end=start + timedelta(minutes=30), **fields)


WINDOW = {"startDateTime": "2026-12-06T07:00:00Z", "endDateTime": "2026-12-21T07:00:00Z"}


def delta_round(
    client: httpx.Client, url: str, *, page_size: int | None = None, **params: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Follow nextLinks to the deltaLink; returns (items, pages)."""
    headers = {"Prefer": f"odata.maxpagesize={page_size}"} if page_size else {}
    pages = []
    response = client.get(url, params=params or None, headers=headers)
    while True:
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if "@odata.deltaLink" in page:
            break
        response = client.get(page["@odata.nextLink"], headers=headers)
    return [item for page in pages for item in page["value"]], pages


# identity ------------------------------------------------------------------------------------


def test_openid_metadata_names_the_tenants_endpoints(fake: FakeMicrosoft) -> None:
    common = httpx.get(f"{fake.authority_url}/common/v2.0/.well-known/openid-configuration")
    assert common.json()["issuer"] == f"{fake.authority_url}/{{tenantid}}/v2.0"
    assert common.json()["token_endpoint"] == f"{fake.authority_url}/common/oauth2/v2.0/token"
    own = httpx.get(
        f"{fake.authority_url}/{fake.tenant_id}/v2.0/.well-known/openid-configuration"
    ).json()
    assert own["issuer"] == f"{fake.authority_url}/{fake.tenant_id}/v2.0"
    assert own["authorization_endpoint"].endswith(f"/{fake.tenant_id}/oauth2/v2.0/authorize")
    unknown = httpx.get(f"{fake.authority_url}/nobody/v2.0/.well-known/openid-configuration")
    assert unknown.status_code == 400
    assert unknown.json()["error_codes"] == [90002]


def test_msal_signs_in_with_pkce_and_keys_its_cache_on_client_info(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    flow, result, back = sign_in(app)

    sent = parse_qs(urlsplit(flow["auth_uri"]).query)
    assert set(sent["scope"][0].split()) == {
        "Calendars.Read",
        "offline_access",
        "openid",
        "profile",
    }
    assert sent["code_challenge_method"] == ["S256"]
    assert sent["client_info"] == ["1"]
    assert sent["nonce"] == [hashlib.sha256(flow["nonce"].encode()).hexdigest()]
    assert set(back) == {"code", "state", "session_state", "client_info"}

    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3600
    assert result["scope"] == "Calendars.Read"
    assert result["refresh_token"]
    account = fake.account(ANA)
    claims = result["id_token_claims"]
    assert claims["preferred_username"] == ANA
    assert claims["name"] == "Ana Lopez"
    assert (claims["oid"], claims["tid"], claims["aud"]) == (account.oid, fake.tenant_id, CLIENT_ID)
    assert claims["iat"] == int(NOW.timestamp())
    [cached] = app.get_accounts()
    assert cached["home_account_id"] == f"{account.oid}.{fake.tenant_id}"
    assert (cached["environment"], cached["realm"], cached["username"]) == (
        "127.0.0.1",
        "common",
        ANA,
    )


def test_msal_reserves_offline_access_and_adds_it_itself(fake: FakeMicrosoft) -> None:
    with pytest.raises(ValueError, match="reserved"):
        new_app(fake).initiate_auth_code_flow(["Calendars.Read", "offline_access"])


def test_the_id_token_is_signed_with_the_published_key(fake: FakeMicrosoft) -> None:
    _, result, _ = sign_in(new_app(fake))
    keys = httpx.get(f"{fake.authority_url}/common/discovery/v2.0/keys").json()["keys"]
    kid = jwt.get_unverified_header(result["id_token"])["kid"]
    [key] = [jwt.PyJWK(key) for key in keys if key["kid"] == kid]
    claims = jwt.decode(
        result["id_token"],
        key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=f"{fake.authority_url}/{fake.tenant_id}/v2.0",
        options={"verify_exp": False, "verify_iat": False, "verify_nbf": False},
    )
    assert claims["sub"] and claims["sub"] != claims["oid"]


def test_form_post_mode_answers_a_page_that_posts_the_code(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT, response_mode="form_post")
    page = browse(flow["auth_uri"])
    assert page.status_code == 200
    assert f'action="{REDIRECT}"' in page.text
    fields = {
        name: unescape(value)
        for name, value in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
    }
    assert "access_token" in app.acquire_token_by_auth_code_flow(flow, fields)


def test_a_code_is_single_use_and_expires_after_ten_minutes(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    flow, result, back = sign_in(app)
    assert "access_token" in result
    again = new_app(fake).acquire_token_by_auth_code_flow(flow, back)
    assert again["error"] == "invalid_grant"
    assert again["error_codes"] == [54005]

    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    back = answer_of(browse(flow["auth_uri"]))
    fake.advance(timedelta(minutes=10))
    late = app.acquire_token_by_auth_code_flow(flow, back)
    assert (late["error"], late["error_codes"]) == ("invalid_grant", [70008])


def test_a_wrong_verifier_is_refused_and_burns_the_code(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    back = answer_of(browse(flow["auth_uri"]))
    wrong = dict(flow, code_verifier="x" * 64)
    assert app.acquire_token_by_auth_code_flow(wrong, back)["error_codes"] == [501481]
    assert app.acquire_token_by_auth_code_flow(flow, back)["error_codes"] == [54005]


def test_a_wrong_secret_is_invalid_client_with_401(fake: FakeMicrosoft) -> None:
    app = new_app(fake, secret="wrong")
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    result = app.acquire_token_by_auth_code_flow(flow, answer_of(browse(flow["auth_uri"])))
    assert (result["error"], result["error_codes"]) == ("invalid_client", [7000215])
    assert fake.calls[-1].status == 401


def test_the_exchange_must_repeat_the_authorize_redirect_uri(fake: FakeMicrosoft) -> None:
    fake.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT, f"{PUBLIC}/other"])
    app = new_app(fake)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    back = answer_of(browse(flow["auth_uri"]))
    result = app.acquire_token_by_auth_code_flow(dict(flow, redirect_uri=f"{PUBLIC}/other"), back)
    assert result["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("client_id", "redirect_uri", "code"),
    [
        ("someone-else", REDIRECT, "AADSTS700016"),
        (CLIENT_ID, "https://evil.test/oauth/microsoft/callback", "AADSTS50011"),
    ],
)
def test_an_unknown_client_or_redirect_uri_gets_a_text_page_never_a_redirect(
    fake: FakeMicrosoft, client_id: str, redirect_uri: str, code: str
) -> None:
    app = msal.ConfidentialClientApplication(
        client_id,
        client_credential=CLIENT_SECRET,
        authority=f"{fake.authority_url}/common",
        instance_discovery=False,
    )
    page = browse(app.initiate_auth_code_flow(SCOPES, redirect_uri=redirect_uri)["auth_uri"])
    assert page.status_code == 400
    assert "Location" not in page.headers
    assert page.headers["Content-Type"].startswith("text/plain")
    assert code in page.text


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"scope": "Calendars.Read openid profile"}, "invalid_scope"),
        ({"scope": "User.Read offline_access openid"}, "invalid_scope"),
        ({"scope": "Calendars.ReadWrite Calendars.Read offline_access"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
        ({"response_mode": "fragment"}, "invalid_request"),
    ],
)
def test_a_bad_request_from_a_known_client_goes_back_with_an_error(
    fake: FakeMicrosoft, change: dict[str, str | None], error: str
) -> None:
    flow = new_app(fake).initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    query = {key: values[0] for key, values in parse_qs(urlsplit(flow["auth_uri"]).query).items()}
    for key, value in change.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    back = answer_of(
        browse(f"{fake.authority_url}/common/oauth2/v2.0/authorize?{urlencode(query)}")
    )
    assert back["error"] == error
    assert back["error_description"].startswith("AADSTS")
    assert back["state"] == flow["state"]
    assert "code" not in back


def test_a_https_graph_scope_is_the_same_permission(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    flow = app.initiate_auth_code_flow(
        ["https://graph.microsoft.com/Calendars.Read"], redirect_uri=REDIRECT
    )
    result = app.acquire_token_by_auth_code_flow(flow, answer_of(browse(flow["auth_uri"])))
    assert result["scope"] == "https://graph.microsoft.com/Calendars.Read"
    assert calendar(fake, result["access_token"]).status_code == 200


def test_a_declined_consent_comes_back_as_an_error_result(fake: FakeMicrosoft) -> None:
    fake.deny_next_consent()
    app = new_app(fake)
    flow = app.initiate_auth_code_flow(SCOPES, redirect_uri=REDIRECT)
    back = answer_of(browse(flow["auth_uri"]))
    assert back["error"] == "access_denied"
    result = app.acquire_token_by_auth_code_flow(flow, back)
    assert result["error"] == "access_denied"
    assert "AADSTS65004" in result["error_description"]
    _, ok, _ = sign_in(app)
    assert "access_token" in ok


def test_a_refresh_rotates_the_refresh_token_and_the_old_one_still_works(
    fake: FakeMicrosoft,
) -> None:
    app = new_app(fake)
    _, first, _ = sign_in(app)
    [account] = app.get_accounts()
    second = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert second["token_source"] == "identity_provider"
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    old = httpx.post(
        f"{fake.authority_url}/common/oauth2/v2.0/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": first["refresh_token"],
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": "Calendars.Read offline_access",
        },
    )
    assert old.status_code == 200
    assert old.json()["refresh_token"] not in (first["refresh_token"], second["refresh_token"])


def test_msal_keeps_answering_an_expired_token_from_its_cache_until_forced(
    fake: FakeMicrosoft,
) -> None:
    cache = msal.SerializableTokenCache()
    _, first, _ = sign_in(new_app(fake, cache=cache))
    stored = cache.serialize()

    fake.expire_access_tokens()
    restored = msal.SerializableTokenCache()
    restored.deserialize(stored)
    app = new_app(fake, cache=restored)
    [account] = app.get_accounts(username=ANA)
    cached = app.acquire_token_silent(SCOPES, account=account)
    assert cached["token_source"] == "cache"
    assert cached["access_token"] == first["access_token"]
    refused = graph(fake, cached["access_token"]).get("/me")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")

    fresh = app.acquire_token_silent(SCOPES, account=account, force_refresh=True)
    assert fresh["token_source"] == "identity_provider"
    assert calendar(fake, fresh["access_token"]).status_code == 200
    assert restored.has_state_changed


def test_a_revoked_grant_ends_refresh_and_graph_access(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    _, first, _ = sign_in(app)
    fake.revoke_grant(ANA)
    [account] = app.get_accounts()
    result = app.acquire_token_silent_with_error(SCOPES, account=account, force_refresh=True)
    assert result["error"] == "invalid_grant"
    assert 70000 in result["error_codes"]
    assert graph(fake, first["access_token"]).get("/me").status_code == 401


def test_a_refresh_for_a_scope_never_consented_is_refused(fake: FakeMicrosoft) -> None:
    app = new_app(fake)
    sign_in(app)
    [account] = app.get_accounts()
    result = app.acquire_token_silent_with_error(["Calendars.ReadWrite"], account=account)
    assert result["error"] == "invalid_grant"
    assert result["error_codes"] == [65001]


# Graph -----------------------------------------------------------------------------------------


def test_me_and_mailbox_settings_need_their_own_permissions(fake: FakeMicrosoft) -> None:
    calendar_only = graph(fake, connect(fake))
    for path in ("/me", "/me/mailboxSettings"):
        refused = calendar_only.get(path)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "ErrorAccessDenied"
    client = graph(fake, connect(fake, [*SCOPES, "User.Read", "MailboxSettings.Read"]))
    me = client.get("/me").json()
    assert (me["id"], me["displayName"], me["mail"], me["userPrincipalName"]) == (
        fake.account(ANA).oid,
        "Ana Lopez",
        ANA,
        ANA,
    )
    assert client.get("/me/mailboxSettings").json()["timeZone"] == "W. Europe Standard Time"


def test_an_unknown_token_is_401(fake: FakeMicrosoft) -> None:
    answer = graph(fake, "EwBnotatoken").get("/me")
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert httpx.get(f"{fake.graph_url}/me").json()["error"]["message"] == "Access token is empty."


def test_the_first_delta_call_needs_the_window(fake: FakeMicrosoft) -> None:
    client = graph(fake, connect(fake))
    answer = client.get("/me/calendarView/delta", params={"startDateTime": WINDOW["startDateTime"]})
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ErrorInvalidParameter"


def test_a_full_round_pages_instances_to_a_delta_link(fake: FakeMicrosoft) -> None:
    for hour in (9, 10, 11, 12, 13):
        meeting(fake, hour, attendees=["bo@contoso.com"])
    meeting(fake, 9, day=28)  # outside the window
    series = meeting(fake, 15, series={"count": 4})  # weekly: 7, 14 and 21 (outside), 28
    occurrences = fake.instances(ANA, series["id"])
    client = graph(fake, connect(fake))

    items, pages = delta_round(client, "/me/calendarView/delta", page_size=3, **WINDOW)

    assert [len(page["value"]) for page in pages] == [3, 3, 1]
    assert all("@odata.nextLink" in page for page in pages[:-1])
    assert "@odata.deltaLink" in pages[-1] and "@odata.nextLink" not in pages[-1]
    assert "$skiptoken=" in pages[0]["@odata.nextLink"]
    assert "$deltatoken=" in pages[-1]["@odata.deltaLink"]
    assert {item["type"] for item in items} == {"singleInstance", "occurrence"}
    assert [item["id"] for item in items if item["type"] == "occurrence"] == [
        occurrences[0]["id"],
        occurrences[1]["id"],
    ]
    first = items[0]
    assert first["start"] == {"dateTime": "2026-12-07T08:00:00.0000000", "timeZone": "UTC"}
    assert first["responseStatus"]["response"] == "organizer"
    assert first["attendees"][0]["emailAddress"]["address"] == "bo@contoso.com"
    occurrence = next(item for item in items if item["type"] == "occurrence")
    assert occurrence["seriesMasterId"] == series["id"]
    assert occurrence["originalStart"] == "2026-12-07T14:00:00Z"


def test_a_series_may_recur_on_several_days_and_every_other_week(fake: FakeMicrosoft) -> None:
    """Graph's weekly pattern: ``daysOfWeek`` and ``interval``, a numbered range counting
    occurrences; each instance keeps its local hour across the change to winter time."""
    start = datetime(2026, 10, 21, 9, 30, tzinfo=BERLIN)  # a Wednesday
    daily = fake.add_event(
        ANA,
        subject="stand-up",
        start=start,
        end=start + timedelta(minutes=15),
        series={"count": 4, "days": ["monday", "wednesday", "friday"]},
    )
    fortnightly = fake.add_event(
        ANA,
        subject="retro",
        start=start,
        end=start + timedelta(minutes=45),
        series={"count": 3, "interval": 2},
    )
    days = [
        datetime.fromisoformat(i["originalStart"].replace("Z", "+00:00")).astimezone(BERLIN)
        for i in fake.instances(ANA, daily["id"])
    ]
    assert [(d.strftime("%a %d %b"), d.hour) for d in days] == [
        ("Wed 21 Oct", 9),
        ("Fri 23 Oct", 9),
        ("Mon 26 Oct", 9),  # winter time from Sunday 25 October: still 09:30 in Berlin
        ("Wed 28 Oct", 9),
    ]
    master = fake.event(ANA, daily["id"])["recurrence"]["pattern"]
    assert master["daysOfWeek"] == ["monday", "wednesday", "friday"]
    other = [i["originalStart"][:10] for i in fake.instances(ANA, fortnightly["id"])]
    assert other == ["2026-10-21", "2026-11-04", "2026-11-18"]
    assert fake.event(ANA, fortnightly["id"])["recurrence"]["pattern"]["interval"] == 2


def test_default_page_size_is_ten_and_outlook_timezone_is_honoured(fake: FakeMicrosoft) -> None:
    for hour in range(8, 20):
        meeting(fake, hour)
    client = graph(fake, connect(fake))
    answer = client.get(
        "/me/calendarView/delta",
        params=WINDOW,
        headers={"Prefer": 'outlook.timezone="W. Europe Standard Time"'},
    )
    page = answer.json()
    assert len(page["value"]) == 10
    assert page["value"][0]["start"] == {
        "dateTime": "2026-12-07T08:00:00.0000000",
        "timeZone": "W. Europe Standard Time",
    }
    assert answer.headers["Preference-Applied"] == 'outlook.timezone="W. Europe Standard Time"'


def test_an_all_day_event_floats_at_midnight_in_any_zone(fake: FakeMicrosoft) -> None:
    fake.add_event(
        ANA, subject="offsite", start=date(2026, 12, 8), end=date(2026, 12, 9), is_all_day=True
    )
    fake.add_event(
        ANA, subject="before", start=date(2026, 12, 5), end=date(2026, 12, 6), is_all_day=True
    )
    client = graph(fake, connect(fake))
    answer = client.get(
        "/me/calendarView/delta",
        params=WINDOW,
        headers={"Prefer": 'outlook.timezone="Pacific Standard Time"'},
    )
    [item] = answer.json()["value"]
    assert (item["subject"], item["isAllDay"]) == ("offsite", True)
    assert item["start"] == {
        "dateTime": "2026-12-08T00:00:00.0000000",
        "timeZone": "Pacific Standard Time",
    }
    assert item["end"]["dateTime"] == "2026-12-09T00:00:00.0000000"


def test_a_delta_link_round_returns_changes_and_removals_in_the_window(
    fake: FakeMicrosoft,
) -> None:
    kept, moved, deleted, updated, cancelled = (meeting(fake, hour) for hour in (9, 10, 11, 12, 13))
    client = graph(fake, connect(fake))
    _, pages = delta_round(client, "/me/calendarView/delta", **WINDOW)
    link = pages[-1]["@odata.deltaLink"]

    fake.move_event(ANA, moved["id"], datetime(2026, 12, 30, 9, tzinfo=BERLIN))
    fake.delete_event(ANA, deleted["id"])
    fake.update_event(ANA, updated["id"], subject="renamed", show_as="free")
    fake.cancel_event(ANA, cancelled["id"])
    fake.set_response(ANA, kept["id"], "declined")
    added = meeting(fake, 16)
    fake.add_event(ANA, subject="far", start=NOW + timedelta(days=40), end=NOW + timedelta(days=41))

    items, pages = delta_round(client, link)
    by_id = {item["id"]: item for item in items}
    assert set(by_id) == {
        kept["id"],
        moved["id"],
        deleted["id"],
        updated["id"],
        cancelled["id"],
        added["id"],
    }
    assert by_id[moved["id"]]["@removed"] == {"reason": "deleted"}
    assert by_id[deleted["id"]]["@removed"] == {"reason": "deleted"}
    assert (by_id[updated["id"]]["subject"], by_id[updated["id"]]["showAs"]) == ("renamed", "free")
    assert by_id[cancelled["id"]]["isCancelled"] is True
    assert by_id[kept["id"]]["responseStatus"]["response"] == "declined"

    quiet, _ = delta_round(client, pages[-1]["@odata.deltaLink"])
    assert quiet == []


def test_expired_state_tokens_answer_410_sync_state_not_found(fake: FakeMicrosoft) -> None:
    for hour in range(8, 20):
        meeting(fake, hour)
    client = graph(fake, connect(fake))
    first = client.get("/me/calendarView/delta", params=WINDOW).json()
    fake.expire_delta_tokens(ANA)
    gone = client.get(first["@odata.nextLink"])
    assert gone.status_code == 410
    assert gone.json()["error"]["code"] == "SyncStateNotFound"
    _, pages = delta_round(client, "/me/calendarView/delta", **WINDOW)
    fake.expire_delta_tokens(ANA)
    assert client.get(pages[-1]["@odata.deltaLink"]).status_code == 410


def test_scripted_faults_look_like_graph_under_load(fake: FakeMicrosoft) -> None:
    client = graph(fake, connect(fake))
    fake.fail_next("/me/calendarView/delta", 429, retry_after=2)
    fake.fail_next("/v1.0/me/calendarView/delta", 503)
    fake.fail_next("/me/calendarView/delta", 410, code="resyncRequired")

    throttled = client.get("/me/calendarView/delta", params=WINDOW)
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "2"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    unavailable = client.get("/me/calendarView/delta", params=WINDOW)
    assert unavailable.status_code == 503
    resync = client.get("/me/calendarView/delta", params=WINDOW)
    assert (resync.status_code, resync.json()["error"]["code"]) == (410, "resyncRequired")
    assert client.get("/me/calendarView/delta", params=WINDOW).status_code == 200


LATENCY = 0.5


@pytest.fixture(name="slow")
def slow_fixture(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicrosoft]:
    """A fake whose Graph answers each wait :data:`LATENCY` seconds."""
    yield from _start(receiver, monkeypatch, auto_notify=False, latency=LATENCY)


def test_latency_holds_each_graph_answer_but_not_sign_in(slow: FakeMicrosoft) -> None:
    app = new_app(slow)
    _, signed_in, _ = sign_in(app)
    graph_url = urlsplit(slow.graph_url)
    connection = http.client.HTTPSConnection(
        graph_url.hostname or "",
        graph_url.port,
        context=ssl.create_default_context(cafile=slow.ca_file),
        timeout=10,
    )
    began = time.perf_counter()
    connection.request(
        "GET",
        f"{graph_url.path}/me/calendarView/delta?{urlencode(WINDOW)}",
        headers={"Authorization": f"Bearer {signed_in['access_token']}"},
    )
    # Sent before the refresh below; the refresh is answered first (not delayed, and the
    # delayed Graph request holds no lock), then the Graph answer, after its latency.
    refreshed = app.acquire_token_silent(SCOPES, account=app.get_accounts()[0], force_refresh=True)
    response = connection.getresponse()
    response.read()
    waited = time.perf_counter() - began
    connection.close()

    assert refreshed["token_source"] == "identity_provider"
    assert response.status == 200
    assert waited >= LATENCY
    assert [call.path.rsplit("/", 1)[-1] for call in slow.calls[-2:]] == ["token", "delta"]


def test_a_fault_after_one_request_fails_the_next_page_mid_round(fake: FakeMicrosoft) -> None:
    for hour in range(8, 20):
        meeting(fake, hour)
    client = graph(fake, connect(fake))
    fake.fail_next("/me/calendarView/delta", 410, code="SyncStateNotFound", after=1)
    first = client.get("/me/calendarView/delta", params=WINDOW)
    assert first.status_code == 200 and "@odata.nextLink" in first.json()
    gone = client.get(first.json()["@odata.nextLink"])
    assert (gone.status_code, gone.json()["error"]["code"]) == (410, "SyncStateNotFound")
    again = client.get(first.json()["@odata.nextLink"])  # the fault is spent; the token is not
    assert again.status_code == 200


def test_calls_show_no_secrets(fake: FakeMicrosoft) -> None:
    client = graph(fake, connect(fake))
    _, pages = delta_round(client, "/me/calendarView/delta", **WINDOW)
    client.get(pages[-1]["@odata.deltaLink"])
    shown = json.dumps([call.query for call in fake.calls])
    for secret in ("code_challenge", "nonce", "state", "$deltatoken"):
        assert f'"{secret}": "*"' in shown
    assert pages[-1]["@odata.deltaLink"].split("=")[-1] not in shown


# subscriptions ---------------------------------------------------------------------------------


def subscription_request(**changes: Any) -> dict[str, Any]:
    request = {
        "changeType": "created,updated,deleted",
        "notificationUrl": HOOK,
        "lifecycleNotificationUrl": LIFECYCLE,
        "resource": "me/events",
        "expirationDateTime": (NOW + timedelta(days=3)).isoformat().replace("+00:00", "Z"),
        "clientState": "s3cr3t-client-state",
    }
    request.update(changes)
    return {key: value for key, value in request.items() if value is not None}


def subscribe(fake: FakeMicrosoft, client: httpx.Client, **changes: Any) -> dict[str, Any]:
    answer = client.post("/subscriptions", json=subscription_request(**changes))
    assert answer.status_code == 201, answer.text
    return answer.json()


def test_a_subscription_is_created_after_both_urls_validate(
    fake: FakeMicrosoft, receiver: Receiver
) -> None:
    client = graph(fake, connect(fake))
    created = subscribe(fake, client)

    assert created["resource"] == "me/events"
    assert created["changeType"] == "created,updated,deleted"
    assert created["clientState"] == "s3cr3t-client-state"
    assert created["applicationId"] == CLIENT_ID
    assert created["creatorId"] == fake.account(ANA).oid
    assert created["expirationDateTime"] == "2026-12-10T07:00:00.0000000Z"
    validations = [r for r in receiver.requests if "validationToken=" in r["path"]]
    assert [urlsplit(r["path"]).path for r in validations] == [
        "/hooks/microsoft",
        "/hooks/microsoft/lifecycle",
    ]
    assert validations[0]["headers"]["Content-Type"].startswith("text/plain")
    assert validations[0]["body"] == b""
    assert "%20" in validations[0]["path"]  # Graph's token is a sentence: it must be decoded
    assert [d.kind for d in fake.deliveries] == ["validation", "validation"]
    assert all(d.ok for d in fake.deliveries)
    [stored] = fake.subscriptions(ANA)
    assert stored.id == created["id"]


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("html", "Content-Type text/html, not text/plain"),
        ("raw", "the body is not the decoded validation token"),
        ("status", "status 202, not 200"),
        ("slow", f"no answer within {VALIDATION_TIMEOUT:g} s"),
    ],
)
def test_a_validation_answered_wrongly_refuses_the_subscription(
    fake: FakeMicrosoft, receiver: Receiver, mode: str, error: str
) -> None:
    receiver.mode = mode
    client = graph(fake, connect(fake))
    answer = client.post("/subscriptions", json=subscription_request())
    receiver.release.set()
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "ValidationError"
    assert answer.json()["error"]["message"].startswith("Subscription validation request")
    assert fake.deliveries[-1].error == error
    assert fake.subscriptions() == []


def test_a_chosen_validation_token_reaches_the_endpoint_url_encoded(
    fake: FakeMicrosoft, receiver: Receiver
) -> None:
    fake.set_next_validation_token("<script>alert(1)</script>")
    subscribe(fake, graph(fake, connect(fake)), lifecycleNotificationUrl=None)
    [validation] = receiver.requests
    assert "validationToken=%3Cscript%3Ealert%281%29%3C%2Fscript%3E" in validation["path"]


@pytest.mark.parametrize(
    ("changes", "code", "message"),
    [
        ({"notificationUrl": "http://heedful.test/hooks/microsoft"}, "ValidationError", "HTTPS"),
        ({"lifecycleNotificationUrl": "http://heedful.test/x"}, "ValidationError", "HTTPS"),
        ({"expirationDateTime": "2026-12-07T06:59:00Z"}, "InvalidRequest", "ExpirationDateTime"),
        ({"expirationDateTime": "2026-12-14T07:01:00Z"}, "InvalidRequest", "ExpirationDateTime"),
        ({"clientState": "x" * 129}, "InvalidRequest", "128"),
        ({"changeType": "created,moved"}, "InvalidRequest", "changeType"),
        ({"resource": "me/messages"}, "InvalidRequest", "me/messages"),
        ({"notificationUrl": None}, "InvalidRequest", "notificationUrl"),
    ],
)
def test_an_invalid_subscription_is_refused_before_any_validation(
    fake: FakeMicrosoft, receiver: Receiver, changes: dict[str, Any], code: str, message: str
) -> None:
    answer = graph(fake, connect(fake)).post("/subscriptions", json=subscription_request(**changes))
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == code
    assert message in answer.json()["error"]["message"]
    assert receiver.requests == []


def test_the_longest_expiration_and_a_leading_slash_are_accepted(fake: FakeMicrosoft) -> None:
    created = subscribe(
        fake,
        graph(fake, connect(fake)),
        resource="/me/events",
        expirationDateTime="2026-12-14T07:00:00Z",
        clientState="x" * 128,
    )
    assert created["resource"] == "/me/events"


def test_renew_reauthorize_and_delete(fake: FakeMicrosoft) -> None:
    client = graph(fake, connect(fake))
    created = subscribe(fake, client)
    path = f"/subscriptions/{created['id']}"

    renewed = client.patch(path, json={"expirationDateTime": "2026-12-13T07:00:00Z"})
    assert renewed.status_code == 200
    assert renewed.json()["expirationDateTime"] == "2026-12-13T07:00:00.0000000Z"
    too_far = client.patch(path, json={"expirationDateTime": "2026-12-15T07:00:00Z"})
    assert too_far.status_code == 400
    assert client.post(f"{path}/reauthorize").status_code == 204
    assert client.delete(path).status_code == 204
    for answer in (client.delete(path), client.patch(path, json={}), client.get(path)):
        assert answer.status_code == 404
        assert answer.json()["error"]["code"] == "ResourceNotFound"


def test_an_expired_subscription_is_gone(fake: FakeMicrosoft) -> None:
    client = graph(fake, connect(fake))
    created = subscribe(fake, client, expirationDateTime="2026-12-07T08:00:00Z")
    fake.advance(timedelta(minutes=59))
    assert [s.id for s in fake.subscriptions(ANA)] == [created["id"]]
    fake.advance(timedelta(minutes=1))
    assert fake.subscriptions(ANA) == []
    fresh = graph(fake, connect(fake))
    assert fresh.post(f"/subscriptions/{created['id']}/reauthorize").status_code == 404


def test_queued_changes_go_out_as_one_batch(fake: FakeMicrosoft, receiver: Receiver) -> None:
    client = graph(fake, connect(fake))
    created = subscribe(fake, client)
    first = meeting(fake, 9)
    fake.update_event(ANA, first["id"], subject="moved")
    second = meeting(fake, 10)
    fake.delete_event(ANA, second["id"])

    [delivery] = fake.notify(ANA)

    assert delivery.ok and delivery.status == 202
    [posted] = receiver.posted("/hooks/microsoft")[-1:]
    body = json.loads(posted["body"])
    assert body == delivery.body
    assert [(item["changeType"], item["resourceData"]["id"]) for item in body["value"]] == [
        ("created", first["id"]),
        ("updated", first["id"]),
        ("created", second["id"]),
        ("deleted", second["id"]),
    ]
    oid = fake.account(ANA).oid
    item = body["value"][1]
    assert item == {
        "subscriptionId": created["id"],
        "subscriptionExpirationDateTime": created["expirationDateTime"],
        "changeType": "updated",
        "resource": f"Users/{oid}/Events/{first['id']}",
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.Event",
            "@odata.id": f"Users/{oid}/Events/{first['id']}",
            "@odata.etag": item["resourceData"]["@odata.etag"],
            "id": first["id"],
        },
        "clientState": "s3cr3t-client-state",
        "tenantId": fake.tenant_id,
    }
    assert fake.notify(ANA) == []


def test_only_the_subscribed_change_types_are_sent(fake: FakeMicrosoft) -> None:
    subscribe(fake, graph(fake, connect(fake)), changeType="deleted")
    event = meeting(fake, 9)
    fake.update_event(ANA, event["id"], subject="again")
    fake.delete_event(ANA, event["id"])
    [delivery] = fake.notify(ANA)
    assert [item["changeType"] for item in (delivery.body or {})["value"]] == ["deleted"]


def test_a_slow_or_failing_receiver_is_recorded(fake: FakeMicrosoft, receiver: Receiver) -> None:
    subscribe(fake, graph(fake, connect(fake)))
    receiver.status = 500
    meeting(fake, 9)
    [delivery] = fake.notify(ANA)
    assert (delivery.status, delivery.ok, delivery.error) == (500, False, "status 500")


def test_a_crafted_batch_reaches_the_hook(fake: FakeMicrosoft, receiver: Receiver) -> None:
    created = subscribe(fake, graph(fake, connect(fake)))
    event = meeting(fake, 9)
    known = fake.notification_item(created["id"], event["id"])
    unknown = dict(known, subscriptionId="00000000-0000-0000-0000-000000000000")
    delivery = fake.send_notifications([known, unknown, known])
    assert delivery.url == f"{receiver.url}/hooks/microsoft"
    assert [
        item["subscriptionId"] for item in json.loads(receiver.requests[-1]["body"])["value"]
    ] == [
        created["id"],
        unknown["subscriptionId"],
        created["id"],
    ]


def test_lifecycle_events(fake: FakeMicrosoft, receiver: Receiver) -> None:
    client = graph(fake, connect(fake))
    created = subscribe(fake, client)

    reauthorize = fake.lifecycle(ANA, "reauthorizationRequired")
    assert reauthorize.ok and reauthorize.url == f"{receiver.url}/hooks/microsoft/lifecycle"
    assert reauthorize.body == {
        "value": [
            {
                "lifecycleEvent": "reauthorizationRequired",
                "subscriptionId": created["id"],
                "subscriptionExpirationDateTime": created["expirationDateTime"],
                "clientState": "s3cr3t-client-state",
                "tenantId": fake.tenant_id,
            }
        ]
    }
    assert fake.subscriptions(ANA)[0].reauthorization_required is True
    client.post(f"/subscriptions/{created['id']}/reauthorize")
    assert fake.subscriptions(ANA)[0].reauthorization_required is False

    meeting(fake, 9)
    missed = fake.lifecycle(ANA, "missed")
    assert missed.body and missed.body["value"][0]["lifecycleEvent"] == "missed"
    assert fake.notify(ANA) == []  # the queued notification was dropped

    removed = fake.lifecycle(ANA, "subscriptionRemoved")
    assert removed.body and removed.body["value"][0]["lifecycleEvent"] == "subscriptionRemoved"
    assert fake.subscriptions(ANA) == []
    assert client.get(f"/subscriptions/{created['id']}").status_code == 404


def test_with_auto_notify_a_change_is_announced_at_once(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _start(receiver, monkeypatch, auto_notify=True)
    fake = next(started)
    try:
        subscribe(fake, graph(fake, connect(fake)))
        event = meeting(fake, 9)
        delivery = wait_until(
            lambda: [d for d in fake.deliveries if d.kind == "notification"],
            what="the notification",
        )[0]
        assert delivery.ok
        assert (delivery.body or {})["value"][0]["resourceData"]["id"] == event["id"]
    finally:
        started.close()
