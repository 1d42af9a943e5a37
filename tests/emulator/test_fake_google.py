"""The fake Google against Google's own client libraries, over real HTTP on loopback.

``google_auth_oauthlib.flow.Flow`` does the consent and the PKCE code exchange,
``google.oauth2.credentials.Credentials`` refreshes, and ``googleapiclient.discovery.build``
with the static discovery document calls the Calendar API; pushes arrive at a real HTTP
receiver. No mocks: every assertion is on what crossed the wire.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

import pytest
import requests
from google.auth.exceptions import RefreshError
from google.auth.transport.requests import Request
from google.oauth2.credentials import Credentials
from google_auth_oauthlib.flow import Flow
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from oauthlib.oauth2.rfc6749.errors import (
    InsecureTransportError,
    InvalidGrantError,
    OAuth2Error,
)
from waiting import wait_until

from bot.emulator import FakeGoogle

CLIENT_ID = "heedful-test.apps.googleusercontent.com"
CLIENT_SECRET = "fake-client-secret"
PUBLIC = "https://heedful.test"
REDIRECT = f"{PUBLIC}/oauth/google/callback"
HOOK = f"{PUBLIC}/hooks/google"
READONLY = "https://www.googleapis.com/auth/calendar.readonly"
ANA = "ana@example.com"
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin


class Receiver:
    """A real HTTP endpoint standing in for the app's ``/hooks/google``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.requests.append(
                    {"path": self.path, "headers": dict(self.headers.items()), "body": body}
                )
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}
        )


@pytest.fixture(name="receiver")
def receiver_fixture() -> Iterator[Receiver]:
    receiver = Receiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join()


@pytest.fixture(name="fake")
def fake_fixture(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    """A fake Google on a pinned clock, with Heedful's client and Ana's account."""
    # oauthlib refuses http:// endpoints unless told otherwise; the fake is loopback HTTP.
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    with FakeGoogle(clock=lambda: NOW, route={PUBLIC: receiver.url}) as fake:
        fake.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT])
        fake.add_account(ANA, time_zone="Europe/Berlin", name="Ana Lopez")
        yield fake


def new_flow(fake: FakeGoogle, **kwargs: Any) -> Flow:
    return Flow.from_client_config(
        fake.client_config(CLIENT_ID), scopes=[READONLY], redirect_uri=REDIRECT, **kwargs
    )


def consent(url: str) -> requests.Response:
    """What the browser gets from the consent screen (the fake consents at once)."""
    return requests.get(url, allow_redirects=False, timeout=10)


def code_from(response: requests.Response) -> str:
    assert response.status_code == 302, response.text
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    return parse_qs(urlsplit(location).query)["code"][0]


def connect(fake: FakeGoogle) -> Credentials:
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    flow.fetch_token(code=code_from(consent(url)))
    return flow.credentials


def calendar(fake: FakeGoogle, credentials: Credentials) -> Any:
    return build(
        "calendar",
        "v3",
        credentials=credentials,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": fake.calendar_api_url},
    )


def error_of(exc: HttpError) -> dict[str, Any]:
    return json.loads(exc.content)["error"]


def meeting(fake: FakeGoogle, hour: int, day: int = 7, **fields: Any) -> dict[str, Any]:
    start = datetime(2026, 12, day, hour, tzinfo=BERLIN)
    fields.setdefault("summary", f"meeting at {hour}")
    return fake.add_event(ANA, start=start, end=start + timedelta(minutes=30), **fields)


def list_all(service: Any, **params: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every page of ``events.list``; returns the items and the raw pages."""
    pages = []
    request = service.events().list(calendarId="primary", **params)
    while request is not None:
        page = request.execute()
        pages.append(page)
        request = service.events().list_next(request, page)
    return [item for page in pages for item in page["items"]], pages


# OAuth ---------------------------------------------------------------------------------------


def test_consent_code_exchange_with_pkce_gives_offline_tokens(fake: FakeGoogle) -> None:
    flow = new_flow(fake)
    url, state = flow.authorization_url()
    query = parse_qs(urlsplit(url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["access_type"] == ["offline"]

    answer = consent(url)
    back = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert back["state"] == [state]
    assert back["scope"] == [READONLY]
    token = flow.fetch_token(code=back["code"][0])

    assert token["token_type"] == "Bearer"
    assert token["expires_in"] == 3599
    assert token["refresh_token"].startswith("1//")
    assert "id_token" not in token
    items = calendar(fake, flow.credentials).calendarList().list().execute()["items"]
    assert items[0]["id"] == ANA
    assert items[0]["primary"] is True
    assert items[0]["timeZone"] == "Europe/Berlin"


def test_oauthlib_refuses_the_loopback_fake_unless_told_insecure_transport_is_fine(
    fake: FakeGoogle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT")
    with pytest.raises(InsecureTransportError):
        new_flow(fake).authorization_url()


def test_registration_refuses_a_plain_http_redirect_uri_off_localhost(fake: FakeGoogle) -> None:
    with pytest.raises(ValueError, match="redirect URI"):
        fake.add_client("other", "secret", ["http://heedful.test/oauth/google/callback"])
    fake.add_client("local", "secret", ["http://127.0.0.1:8080/oauth/google/callback"])


def test_callback_with_a_new_flow_needs_the_same_verifier(fake: FakeGoogle) -> None:
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    code = code_from(consent(url))

    again = new_flow(fake, code_verifier=flow.code_verifier)
    again.fetch_token(code=code)
    assert again.credentials.token


@pytest.mark.parametrize("verifier", ["x" * 64, "short", None])
def test_a_wrong_or_missing_verifier_is_refused(fake: FakeGoogle, verifier: str | None) -> None:
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    code = code_from(consent(url))

    other = new_flow(fake, autogenerate_code_verifier=False)
    with pytest.raises(InvalidGrantError):
        other.fetch_token(code=code, code_verifier=verifier)


def test_a_code_is_single_use_and_expires_after_ten_minutes(fake: FakeGoogle) -> None:
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    code = code_from(consent(url))
    flow.fetch_token(code=code)
    with pytest.raises(InvalidGrantError):
        flow.fetch_token(code=code)

    late = new_flow(fake)
    url, _ = late.authorization_url()
    code = code_from(consent(url))
    fake.advance(timedelta(minutes=10))
    with pytest.raises(InvalidGrantError):
        late.fetch_token(code=code)


def test_a_foreign_redirect_uri_gets_an_error_page_never_a_redirect(fake: FakeGoogle) -> None:
    flow = Flow.from_client_config(
        fake.client_config(CLIENT_ID),
        scopes=[READONLY],
        redirect_uri="https://evil.test/oauth/google/callback",
    )
    url, _ = flow.authorization_url()
    answer = consent(url)
    assert answer.status_code == 400
    assert "Location" not in answer.headers
    assert "Error 400: redirect_uri_mismatch" in answer.text


def test_the_exchange_must_repeat_the_consents_redirect_uri(fake: FakeGoogle) -> None:
    fake.add_client(CLIENT_ID, CLIENT_SECRET, [REDIRECT, f"{PUBLIC}/other"])
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    code = code_from(consent(url))
    flow.redirect_uri = f"{PUBLIC}/other"
    with pytest.raises(OAuth2Error) as caught:
        flow.fetch_token(code=code)
    assert caught.value.error == "redirect_uri_mismatch"


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"client_id": "someone-else"}, "Error 401: invalid_client"),
        ({"response_type": "token"}, "Error 400: invalid_request"),
        ({"scope": None}, "Error 400: invalid_request"),
        ({"scope": "https://www.googleapis.com/auth/calendar"}, "Error 400: invalid_scope"),
        ({"scope": "https://example.com/auth/nonsense"}, "Error 400: invalid_scope"),
        ({"code_challenge": None, "code_challenge_method": None}, "Error 400: invalid_request"),
        ({"code_challenge_method": "plain"}, "Error 400: invalid_request"),
        ({"access_type": None}, "Error 400: invalid_request"),
        ({"state": None}, "Error 400: invalid_request"),
    ],
)
def test_consent_refuses_an_invalid_request(
    fake: FakeGoogle, change: dict[str, str | None], error: str
) -> None:
    url, _ = new_flow(fake).authorization_url()
    query = {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}
    for key, value in change.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    answer = consent(f"{fake.auth_uri}?{urlencode(query)}")
    assert error in answer.text
    assert "Location" not in answer.headers


def test_a_denied_consent_redirects_with_access_denied(fake: FakeGoogle) -> None:
    fake.deny_next_consent()
    url, state = new_flow(fake).authorization_url()
    back = parse_qs(urlsplit(consent(url).headers["Location"]).query)
    assert back == {"error": ["access_denied"], "state": [state]}
    assert "code" in parse_qs(urlsplit(consent(url).headers["Location"]).query)


def test_a_wrong_client_secret_is_invalid_client(fake: FakeGoogle) -> None:
    config = fake.client_config(CLIENT_ID)
    config["web"]["client_secret"] = "wrong"
    flow = Flow.from_client_config(config, scopes=[READONLY], redirect_uri=REDIRECT)
    url, _ = flow.authorization_url()
    with pytest.raises(OAuth2Error) as caught:
        flow.fetch_token(code=code_from(consent(url)))
    assert caught.value.error == "invalid_client"
    assert caught.value.status_code == 401


def test_refresh_gives_a_new_access_token_and_keeps_the_refresh_token(fake: FakeGoogle) -> None:
    credentials = connect(fake)
    first = credentials.token
    credentials.refresh(Request())
    second = credentials.token
    credentials.refresh(Request())
    assert len({first, second, credentials.token}) == 3
    assert calendar(fake, credentials).calendarList().list().execute()["items"]


def test_an_expired_access_token_is_refreshed_by_the_client_library(fake: FakeGoogle) -> None:
    credentials = connect(fake)
    service = calendar(fake, credentials)
    fake.expire_access_tokens()
    assert service.calendarList().list().execute()["items"][0]["id"] == ANA
    assert [(call.path, call.status) for call in fake.calls[-3:]] == [
        ("/calendar/v3/users/me/calendarList", 401),
        ("/token", 200),
        ("/calendar/v3/users/me/calendarList", 200),
    ]


def test_revoke_ends_refresh_and_api_access(fake: FakeGoogle) -> None:
    credentials = connect(fake)
    access = credentials.token
    answer = requests.post(fake.revoke_uri, data={"token": credentials.refresh_token}, timeout=10)
    assert answer.status_code == 200

    with pytest.raises(RefreshError) as caught:
        credentials.refresh(Request())
    assert "invalid_grant" in str(caught.value)
    # With a bare access token (the client library would try to refresh on any 401):
    refused = requests.get(
        f"{fake.calendar_api_url}users/me/calendarList",
        headers={"Authorization": f"Bearer {access}"},
        timeout=10,
    )
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert refused.json()["error"] == {
        "code": 401,
        "message": "Invalid Credentials",
        "errors": [
            {
                "domain": "global",
                "reason": "authError",
                "message": "Invalid Credentials",
                "location": "Authorization",
                "locationType": "header",
            }
        ],
        "status": "UNAUTHENTICATED",
    }
    again = requests.post(fake.revoke_uri, data={"token": access}, timeout=10)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_token")


def test_a_grant_revoked_by_the_person_fails_refresh_through_the_api(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    fake.revoke_grant(ANA)
    with pytest.raises(RefreshError):
        service.calendarList().list().execute()


def test_reconnecting_without_prompt_consent_gets_no_new_refresh_token(fake: FakeGoogle) -> None:
    connect(fake)
    flow = new_flow(fake)
    url, _ = flow.authorization_url()
    assert "refresh_token" not in flow.fetch_token(code=code_from(consent(url)))
    url, _ = flow.authorization_url(prompt="consent")
    assert "refresh_token" in flow.fetch_token(code=code_from(consent(url)))


# events.list and sync ------------------------------------------------------------------------


def test_full_sync_pages_and_ends_with_a_sync_token(fake: FakeGoogle) -> None:
    for hour in (9, 10, 11, 12, 13):
        meeting(fake, hour)
    service = calendar(fake, connect(fake))
    items, pages = list_all(service, singleEvents=True, maxResults=2)
    assert [item["summary"] for item in items] == [f"meeting at {h}" for h in (9, 10, 11, 12, 13)]
    assert [("nextPageToken" in page, "nextSyncToken" in page) for page in pages] == [
        (True, False),
        (True, False),
        (False, True),
    ]
    first = items[0]
    assert first["start"] == {"dateTime": "2026-12-07T09:00:00+01:00", "timeZone": "Europe/Berlin"}
    assert first["organizer"] == {"email": ANA, "displayName": "Ana Lopez", "self": True}
    assert first["eventType"] == "default"
    assert first["iCalUID"].endswith("@google.com")
    assert first["etag"] and first["updated"].endswith("Z")


def test_incremental_sync_returns_just_the_changes(fake: FakeGoogle) -> None:
    moved = meeting(fake, 9)
    cancelled = meeting(fake, 10)
    deleted = meeting(fake, 11)
    declined = meeting(fake, 12, attendees=[ANA, "ben@example.com"])
    meeting(fake, 13)
    service = calendar(fake, connect(fake))
    _, pages = list_all(service, singleEvents=True)
    token = pages[-1]["nextSyncToken"]

    fake.move_event(ANA, moved["id"], datetime(2026, 12, 7, 9, 15, tzinfo=BERLIN))
    fake.cancel_event(ANA, cancelled["id"])
    fake.delete_event(ANA, deleted["id"])
    fake.set_response(ANA, declined["id"], ANA, "declined")
    added = meeting(fake, 16, eventType="focusTime")

    items, pages = list_all(service, singleEvents=True, syncToken=token)
    by_id = {item["id"]: item for item in items}
    assert set(by_id) == {moved["id"], cancelled["id"], deleted["id"], declined["id"], added["id"]}
    assert by_id[moved["id"]]["start"]["dateTime"] == "2026-12-07T09:15:00+01:00"
    assert by_id[moved["id"]]["end"]["dateTime"] == "2026-12-07T09:45:00+01:00"
    for gone in (cancelled["id"], deleted["id"]):
        assert set(by_id[gone]) == {"kind", "etag", "id", "status"}
        assert by_id[gone]["status"] == "cancelled"
    mine = [a for a in by_id[declined["id"]]["attendees"] if a.get("self")]
    assert mine == [{"email": ANA, "responseStatus": "declined", "self": True}]
    assert by_id[added["id"]]["eventType"] == "focusTime"

    again, _ = list_all(service, singleEvents=True, syncToken=pages[-1]["nextSyncToken"])
    assert again == []


def test_an_expired_sync_token_answers_410_full_sync_required(fake: FakeGoogle) -> None:
    meeting(fake, 9)
    service = calendar(fake, connect(fake))
    _, pages = list_all(service, singleEvents=True)
    fake.expire_sync_tokens(ANA)
    with pytest.raises(HttpError) as caught:
        list_all(service, singleEvents=True, syncToken=pages[-1]["nextSyncToken"])
    assert caught.value.resp.status == 410
    assert error_of(caught.value)["errors"][0]["reason"] == "fullSyncRequired"
    items, _ = list_all(service, singleEvents=True)
    assert len(items) == 1


@pytest.mark.parametrize(
    "extra",
    [
        {"timeMin": "2026-12-01T00:00:00Z"},
        {"timeMax": "2026-12-31T00:00:00Z"},
        {"q": "1:1"},
        {"orderBy": "startTime"},
        {"updatedMin": "2026-12-01T00:00:00Z"},
        {"iCalUID": "x@google.com"},
        {"showDeleted": False},
    ],
)
def test_a_sync_token_refuses_filters(fake: FakeGoogle, extra: dict[str, Any]) -> None:
    service = calendar(fake, connect(fake))
    _, pages = list_all(service, singleEvents=True)
    with pytest.raises(HttpError) as caught:
        list_all(service, singleEvents=True, syncToken=pages[-1]["nextSyncToken"], **extra)
    assert caught.value.resp.status == 400
    assert error_of(caught.value)["errors"][0]["reason"] == "badRequest"
    assert error_of(caught.value)["status"] == "INVALID_ARGUMENT"


def test_single_events_expands_a_weekly_series_with_exceptions(fake: FakeGoogle) -> None:
    start = datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    series = fake.add_event(
        ANA,
        summary="weekly 1:1",
        start=start,
        end=start + timedelta(hours=1),
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=4"],
        attendees=[ANA, "ben@example.com"],
    )
    second = f"{series['id']}_20261214T090000Z"
    third = f"{series['id']}_20261221T090000Z"
    fake.move_event(ANA, second, datetime(2026, 12, 15, 11, tzinfo=BERLIN))
    fake.cancel_event(ANA, third)
    service = calendar(fake, connect(fake))

    items, _ = list_all(
        service,
        singleEvents=True,
        orderBy="startTime",
        timeMin="2026-12-01T00:00:00Z",
        timeMax="2027-01-31T00:00:00Z",
    )
    assert [item["start"]["dateTime"] for item in items] == [
        "2026-12-07T10:00:00+01:00",
        "2026-12-15T11:00:00+01:00",
        "2026-12-28T10:00:00+01:00",
    ]
    assert {item["recurringEventId"] for item in items} == {series["id"]}
    assert items[1]["id"] == second
    assert items[1]["originalStartTime"] == {
        "dateTime": "2026-12-14T10:00:00+01:00",
        "timeZone": "Europe/Berlin",
    }
    assert all("recurrence" not in item for item in items)

    with_deleted, _ = list_all(service, singleEvents=True, showDeleted=True)
    assert {item["id"]: item["status"] for item in with_deleted}[third] == "cancelled"
    raw, _ = list_all(service)
    assert {item["id"] for item in raw} == {series["id"], second}
    assert next(item for item in raw if item["id"] == series["id"])["recurrence"] == [
        "RRULE:FREQ=WEEKLY;COUNT=4"
    ]


def test_all_day_events_and_time_window(fake: FakeGoogle) -> None:
    fake.add_event(
        ANA,
        summary="away",
        start=date(2026, 12, 8),
        end=date(2026, 12, 9),
        eventType="outOfOffice",
        transparency="opaque",
    )
    meeting(fake, 9, day=10)
    service = calendar(fake, connect(fake))
    items, _ = list_all(
        service,
        singleEvents=True,
        timeMin="2026-12-08T00:00:00+01:00",
        timeMax="2026-12-09T00:00:00+01:00",
    )
    assert [(item["summary"], item["start"]) for item in items] == [
        ("away", {"date": "2026-12-08"})
    ]


def test_another_calendar_is_not_found(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="ben@example.com").execute()
    assert caught.value.resp.status == 404
    assert service.events().list(calendarId=ANA).execute()["summary"] == ANA


# watch, push, stop ---------------------------------------------------------------------------


def watch(service: Any, channel_id: str, **body: Any) -> dict[str, Any]:
    body = {"id": channel_id, "type": "web_hook", "address": HOOK, **body}
    return service.events().watch(calendarId="primary", body=body).execute()


def test_watch_refuses_http_a_duplicate_id_and_a_missing_id(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    with pytest.raises(HttpError) as caught:
        watch(service, "c1", address="http://heedful.test/hooks/google")
    assert error_of(caught.value)["errors"][0]["reason"] == "push.webhookUrlNotHttps"
    watch(service, "c1")
    with pytest.raises(HttpError) as caught:
        watch(service, "c1")
    assert caught.value.resp.status == 400
    assert error_of(caught.value)["errors"][0]["reason"] == "channelIdNotUnique"
    with pytest.raises(HttpError) as caught:
        service.events().watch(
            calendarId="primary", body={"type": "web_hook", "address": HOOK}
        ).execute()
    assert caught.value.resp.status == 400


def test_push_messages_carry_the_documented_headers_until_stopped(
    fake: FakeGoogle, receiver: Receiver
) -> None:
    service = calendar(fake, connect(fake))
    channel = watch(service, "chan-1", token="secret-token", params={"ttl": "3600"})
    assert channel["kind"] == "api#channel"
    assert channel["expiration"] == str(int((NOW + timedelta(hours=1)).timestamp() * 1000))
    wait_until(lambda: len(receiver.requests) == 1, what="the sync message")

    meeting(fake, 9)
    wait_until(lambda: len(receiver.requests) == 2, what="the change message")
    fake.notify(ANA)
    wait_until(lambda: len(receiver.requests) == 3, what="the explicit notification")
    pushed = fake.push(ANA)
    assert [delivery.status for delivery in pushed] == [200]

    assert [r["path"] for r in receiver.requests] == ["/hooks/google"] * 4
    assert [r["body"] for r in receiver.requests] == [b""] * 4
    headers = [r["headers"] for r in receiver.requests]
    assert [h["X-Goog-Resource-State"] for h in headers] == ["sync", "exists", "exists", "exists"]
    assert [h["X-Goog-Message-Number"] for h in headers] == ["1", "2", "3", "4"]
    for header in headers:
        assert header["X-Goog-Channel-ID"] == "chan-1"
        assert header["X-Goog-Channel-Token"] == "secret-token"
        assert header["X-Goog-Resource-ID"] == channel["resourceId"]
        assert header["X-Goog-Resource-URI"] == channel["resourceUri"]
        expiration = parsedate_to_datetime(header["X-Goog-Channel-Expiration"])
        assert expiration == NOW + timedelta(hours=1)
    assert [d.message_number for d in fake.deliveries] == [1, 2, 3, 4]

    assert (
        service.channels()
        .stop(body={"id": "chan-1", "resourceId": channel["resourceId"]})
        .execute()
        == ""
    )
    assert fake.push(ANA) == []
    meeting(fake, 10)
    with pytest.raises(HttpError) as caught:
        service.channels().stop(
            body={"id": "chan-1", "resourceId": channel["resourceId"]}
        ).execute()
    assert caught.value.resp.status == 404
    assert len(receiver.requests) == 4


def test_no_token_no_header_and_sync_can_come_before_the_watch_answer(
    fake: FakeGoogle, receiver: Receiver
) -> None:
    fake.sync_before_response = True
    service = calendar(fake, connect(fake))
    watch(service, "chan-2")
    assert len(receiver.requests) == 1  # no waiting: it arrived before the answer
    assert "X-Goog-Channel-Token" not in receiver.requests[0]["headers"]
    assert receiver.requests[0]["headers"]["X-Goog-Resource-State"] == "sync"


def test_the_sync_message_leaves_before_a_change_made_right_after_the_watch(
    fake: FakeGoogle, receiver: Receiver
) -> None:
    service = calendar(fake, connect(fake))
    watch(service, "chan-3")
    meeting(fake, 9)
    wait_until(lambda: len(receiver.requests) == 2, what="sync and change messages")
    assert [
        (r["headers"]["X-Goog-Resource-State"], r["headers"]["X-Goog-Message-Number"])
        for r in receiver.requests
    ] == [("sync", "1"), ("exists", "2")]


def test_an_expired_channel_gets_nothing(fake: FakeGoogle, receiver: Receiver) -> None:
    service = calendar(fake, connect(fake))
    watch(service, "short", params={"ttl": "60"})
    wait_until(lambda: fake.deliveries, what="the sync message")
    fake.advance(61)
    assert fake.push(ANA) == []


def test_a_push_without_a_route_is_recorded_undeliverable(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    watch(service, "lost", address="https://elsewhere.test/hooks/google")
    delivery = wait_until(lambda: fake.deliveries, what="the sync attempt")[0]
    assert (delivery.url, delivery.status) == (None, None)
    assert delivery.error


# load and faults -----------------------------------------------------------------------------


def test_over_the_rate_the_api_answers_429_with_retry_after(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    fake.requests_per_second = 2
    service.calendarList().list().execute()
    service.calendarList().list().execute()
    with pytest.raises(HttpError) as caught:
        service.calendarList().list().execute()
    assert caught.value.resp.status == 429
    assert caught.value.resp["retry-after"] == "1"
    assert error_of(caught.value)["errors"][0] == {
        "domain": "usageLimits",
        "reason": "rateLimitExceeded",
        "message": "Rate Limit Exceeded",
    }
    fake.advance(1)
    assert service.calendarList().list().execute()["items"]


def test_latency_delays_calendar_api_answers_only(fake: FakeGoogle) -> None:
    credentials = connect(fake)  # OAuth is not delayed
    service = calendar(fake, credentials)
    service.events().list(calendarId="primary").execute()  # connection and client warm
    fake.latency = 0.2
    began = time.perf_counter()
    service.events().list(calendarId="primary").execute()
    assert time.perf_counter() - began >= 0.2
    began = time.perf_counter()
    credentials.refresh(Request())
    assert time.perf_counter() - began < 0.2


def test_scripted_faults_answer_in_googles_shape_then_pass(fake: FakeGoogle) -> None:
    service = calendar(fake, connect(fake))
    fake.fail_next("/events", 503, retry_after=7)
    with pytest.raises(HttpError) as caught:
        service.events().list(calendarId="primary").execute()
    assert caught.value.resp.status == 503
    assert caught.value.resp["retry-after"] == "7"
    assert error_of(caught.value)["errors"][0]["reason"] == "backendError"
    assert service.events().list(calendarId="primary").execute()["items"] == []


def test_calls_are_recorded_without_secrets(fake: FakeGoogle) -> None:
    credentials = connect(fake)
    calendar(fake, credentials).events().list(calendarId="primary", singleEvents=True).execute()
    recorded = repr(fake.calls)
    for secret in (credentials.token, credentials.refresh_token, CLIENT_SECRET):
        assert secret not in recorded
    assert fake.calls[0].path == "/o/oauth2/v2/auth"
    assert "state" not in fake.calls[0].query
    assert fake.calls[-1].query["singleEvents"] == "true"


def test_incremental_sync_carries_instance_changes_with_their_series(fake: FakeGoogle) -> None:
    start = datetime(2026, 12, 7, 10, tzinfo=BERLIN)
    series = fake.add_event(
        ANA,
        summary="standup",
        start=start,
        end=start + timedelta(minutes=15),
        recurrence=["RRULE:FREQ=DAILY;COUNT=3"],
    )
    service = calendar(fake, connect(fake))
    _, pages = list_all(service, singleEvents=True)
    token = pages[-1]["nextSyncToken"]

    second = f"{series['id']}_20261208T090000Z"
    fake.cancel_event(ANA, second)
    items, pages = list_all(service, singleEvents=True, syncToken=token)
    assert items == [
        {
            "kind": "calendar#event",
            "etag": items[0]["etag"],
            "id": second,
            "status": "cancelled",
            "recurringEventId": series["id"],
            "originalStartTime": {
                "dateTime": "2026-12-08T10:00:00+01:00",
                "timeZone": "Europe/Berlin",
            },
        }
    ]

    fake.update_event(ANA, series["id"], summary="stand-up")
    items, _ = list_all(service, singleEvents=True, syncToken=pages[-1]["nextSyncToken"])
    assert sorted((item["id"], item.get("summary")) for item in items) == [
        (f"{series['id']}_20261207T090000Z", "stand-up"),
        (second, None),
        (f"{series['id']}_20261209T090000Z", "stand-up"),
    ]


def test_a_weekly_series_keeps_its_local_time_across_a_dst_change(fake: FakeGoogle) -> None:
    start = datetime(2027, 3, 22, 10, tzinfo=BERLIN)  # the Monday before summer time
    fake.add_event(
        ANA,
        summary="weekly",
        start=start,
        end=start + timedelta(hours=1),
        recurrence=["RRULE:FREQ=WEEKLY;COUNT=2"],
    )
    items, _ = list_all(calendar(fake, connect(fake)), singleEvents=True)
    assert [item["start"]["dateTime"] for item in items] == [
        "2027-03-22T10:00:00+01:00",
        "2027-03-29T10:00:00+02:00",
    ]
    assert [item["id"][-16:] for item in items] == ["20270322T090000Z", "20270329T080000Z"]
