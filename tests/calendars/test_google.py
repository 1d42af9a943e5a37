"""Google Calendar end to end: the real app over HTTP against the fake Google.

A browser is played by following redirects by hand, mapping Heedful's public address
(``https://heedful.test``) to the app's loopback port, as a reverse proxy would. Push
notifications travel the same way, from the fake to ``/hooks/google``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from signing_in import (
    PUBLIC,
    add_person,
    browse,
    fake_google,
    home_buttons,
    link_answered,
    rows,
    running_app,
    with_google,
)
from sqlalchemy.engine import Engine
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import FakeGoogle, SlackEmulator
from bot.services import Services
from bot.storage.models import (
    CalendarSource,
    Delivery,
    GoogleCalendar,
    InboxItem,
    OAuthState,
    OccurrenceRow,
)
from bot.sync import google

TEAM = "T0001"
ANA = "ana@example.com"


@pytest.fixture(name="fake")
def fixture_fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGoogle]:
    with fake_google(clock, monkeypatch, ANA) as fake:
        yield fake


@pytest.fixture(name="settings")
def fixture_google_settings(settings: Settings, fake: FakeGoogle) -> Settings:
    return with_google(settings, fake)


@pytest.fixture(name="app")
def fixture_app(heedful: Heedful, fake: FakeGoogle, services: Services) -> Heedful:
    fake.route(PUBLIC, heedful.url)
    add_person(services, team_id=TEAM, user_id="U1", email=ANA)
    return heedful


def connect(app: Heedful) -> httpx.Response:
    link = google.connect_link(app.services, team_id=TEAM, user_id="U1")
    page = browse(app.url, link)
    app.process_inbox()
    return page


def meeting(fake: FakeGoogle, clock: VirtualClock, *, hours: float = 3, **fields: Any) -> dict:
    start = clock.now() + timedelta(hours=hours)
    return fake.add_event(
        ANA,
        **{
            "summary": "1:1 with Ben",
            "start": start,
            "end": start + timedelta(minutes=30),
            "attendees": [ANA, "ben@example.com"],
            **fields,
        },
    )


def reminders(services: Services) -> dict[str, tuple[str, datetime]]:
    """The Google event id of each reminder → (state, due time)."""
    return {
        r.ref.split("|")[1]: (r.state, r.due_at)
        for r in rows(services, Delivery)
        if r.kind == "reminder"
    }


def push(app: Heedful, fake: FakeGoogle) -> list[int]:
    """Announce the calendar's changes; the app stores them, then the worker syncs."""
    answers = [d.status for d in fake.push(ANA)]
    app.process_inbox()
    return answers


# --------------------------------------------------------------------------- connect


def test_connecting_plans_the_week_opens_a_channel_and_says_so(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    one = meeting(fake, clock, hours=3)
    meeting(fake, clock, hours=5, summary="Focus", eventType="focusTime", attendees=[])
    page = connect(app)
    assert page.status_code == 200 and "Connected" in page.text
    assert reminders(app.services)[one["id"]][0] == "pending"
    (gcal,) = rows(app.services, GoogleCalendar)
    assert gcal.account == ANA and gcal.sync_token and gcal.resource_id
    (channel,) = [c for c in fake.channels(ANA) if c.live(fake.now())]
    assert channel.address == f"{PUBLIC}/hooks/google"
    app.send_due()
    texts = [m.get("text", "") for m in emulator.messages("U1")]
    assert any("Connected your Google Calendar" in t and "1 meeting" in t for t in texts)


def test_a_used_expired_or_unknown_state_stores_nothing(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    link = google.connect_link(app.services, team_id=TEAM, user_id="U1")
    start = httpx.get(link.replace(PUBLIC, app.url), follow_redirects=False)
    consent = httpx.get(start.headers["location"], follow_redirects=False)
    callback = consent.headers["location"]
    assert browse(app.url, callback).status_code == 200
    # The same callback again (a reload, a replay): the state is spent.
    again = browse(app.url, callback)
    assert again.status_code == 400 and "expired or was already used" in again.text
    # The start link again: spent too.
    assert browse(app.url, link).status_code == 400
    # A state Heedful never made.
    forged = browse(app.url, f"{PUBLIC}/oauth/google/callback?state=made-up&code=x")
    assert forged.status_code == 400
    # One that expired before the callback came.
    late = google.connect_link(app.services, team_id=TEAM, user_id="U1")
    clock.advance(google.STATE_TTL + timedelta(seconds=1))
    assert browse(app.url, late).status_code == 400
    assert len(rows(app.services, CalendarSource)) == 1  # only the first connection
    assert len(rows(app.services, GoogleCalendar)) == 1


def test_a_refused_consent_stores_nothing(app: Heedful, fake: FakeGoogle) -> None:
    fake.deny_next_consent()
    page = connect(app)
    assert page.status_code == 400 and "not connected" in page.text
    assert rows(app.services, CalendarSource) == []
    assert rows(app.services, GoogleCalendar) == []


# --------------------------------------------------------------------------- push


def test_a_pushed_move_cancel_decline_and_addition_change_the_pending_nudges(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    moved, cancelled, declined = (meeting(fake, clock, hours=h) for h in (3, 4, 5))
    connect(app)
    before = reminders(app.services)
    assert {k: v[0] for k, v in before.items()} == {
        moved["id"]: "pending",
        cancelled["id"]: "pending",
        declined["id"]: "pending",
    }
    fake.move_event(ANA, moved["id"], clock.now() + timedelta(hours=3, minutes=10))
    fake.cancel_event(ANA, cancelled["id"])
    fake.set_response(ANA, declined["id"], ANA, "declined")
    added = meeting(fake, clock, hours=6)
    assert push(app, fake) == [200]
    after = reminders(app.services)
    assert after[moved["id"]] == ("pending", before[moved["id"]][1] + timedelta(minutes=10))
    assert after[cancelled["id"]][0] == "skipped"
    assert after[declined["id"]][0] == "skipped"
    assert after[added["id"]][0] == "pending"


def test_a_forged_or_stale_notification_changes_nothing(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    event = meeting(fake, clock)
    connect(app)
    (gcal,) = rows(app.services, GoogleCalendar)
    good = {
        "X-Goog-Channel-ID": gcal.channel_id,
        "X-Goog-Channel-Token": app.services.cipher.decrypt(gcal.channel_token),
        "X-Goog-Resource-ID": gcal.resource_id,
        "X-Goog-Resource-State": "exists",
        "X-Goog-Message-Number": "5",
    }
    url = f"{app.url}/hooks/google"
    with caplog.at_level(logging.DEBUG):
        assert httpx.post(url, headers={**good, "X-Goog-Channel-Token": "wrong"}).status_code == 401
        assert httpx.post(url, headers={**good, "X-Goog-Resource-ID": "other"}).status_code == 401
        assert httpx.post(url, headers={**good, "X-Goog-Channel-ID": "unknown"}).status_code == 404
        assert [i for i in rows(app.services, InboxItem) if i.kind == "push"] == []
        assert httpx.post(url, headers=good).status_code == 200  # number 5: stored
        assert httpx.post(url, headers=good).status_code == 200  # 5 again: stale
        assert httpx.post(url, headers={**good, "X-Goog-Message-Number": "4"}).status_code == 200
    assert len([i for i in rows(app.services, InboxItem) if i.kind == "push"]) == 1
    assert good["X-Goog-Channel-Token"] not in caplog.text
    assert "1:1 with Ben" not in caplog.text
    assert reminders(app.services)[event["id"]][0] == "pending"


def test_a_dropped_notification_is_caught_by_the_periodic_sync(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    event = meeting(fake, clock, hours=5)
    connect(app)
    due = reminders(app.services)[event["id"]][1]
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=6))  # nobody is told
    clock.advance(timedelta(minutes=app.services.settings.calendar_poll_minutes))
    assert app.sync_google() == 1
    assert reminders(app.services)[event["id"]] == ("pending", due + timedelta(hours=1))


def test_a_410_leads_to_one_full_sync_and_no_duplicate_nudge(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    event = meeting(fake, clock)
    connect(app)
    fake.expire_sync_tokens(ANA)
    push(app, fake)
    lists = [c for c in fake.calls if c.path.endswith("/events") and c.status == 410]
    assert len(lists) == 1
    assert [r for r in rows(app.services, Delivery) if r.kind == "reminder"] == [
        r for r in rows(app.services, Delivery) if r.kind == "reminder" and event["id"] in r.ref
    ]
    assert len([r for r in rows(app.services, Delivery) if r.kind == "reminder"]) == 1
    assert len(rows(app.services, OccurrenceRow)) == 1


def test_an_expiring_channel_is_renewed_with_no_gap(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    connect(app)
    (first,) = rows(app.services, GoogleCalendar)
    clock.advance(google.CHANNEL_TTL - google.RENEW_BEFORE + timedelta(minutes=1))
    assert app.sync_google() == 1
    (renewed,) = rows(app.services, GoogleCalendar)
    assert renewed.channel_id != first.channel_id and renewed.old_channel_id is None
    live = [c.id for c in fake.channels(ANA) if c.live(fake.now())]
    assert live == [renewed.channel_id]  # the old one was stopped after the new one opened
    event = meeting(fake, clock, hours=30)
    assert push(app, fake) == [200]
    assert event["id"] in reminders(app.services)


def test_a_revoked_grant_tells_the_person_once_with_a_reconnect_button(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    connect(app)
    app.send_due()
    fake.revoke_grant(ANA)
    fake.expire_access_tokens()
    for _ in range(2):
        clock.advance(timedelta(minutes=app.services.settings.calendar_poll_minutes))
        app.sync_google()
        meeting(fake, clock)
        push(app, fake)
    app.send_due()
    (source,) = rows(app.services, CalendarSource)
    assert source.status == "broken"
    warnings = [m for m in emulator.messages("U1") if "no longer read your Google" in m["text"]]
    assert len(warnings) == 1
    buttons = [e for b in warnings[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons and buttons[0]["url"].startswith(f"{PUBLIC}/oauth/google/start?state=")


def test_disconnect_and_erase_stop_the_channel_and_leave_no_token(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    from bot.privacy import erase_user, purge_team

    meeting(fake, clock)
    connect(app)
    assert google.disconnect(app.services, team_id=TEAM, user_id="U1")
    assert [c for c in fake.channels(ANA) if c.live(fake.now())] == []
    assert rows(app.services, GoogleCalendar) == [] and rows(app.services, OccurrenceRow) == []
    revoked = [c for c in fake.calls if c.path.endswith("/revoke")]
    assert revoked and revoked[-1].status == 200
    connect(app)
    assert [c for c in fake.channels(ANA) if c.live(fake.now())]
    erase_user(app.services, team_id=TEAM, user_id="U1")
    assert [c for c in fake.channels(ANA) if c.live(fake.now())] == []
    assert rows(app.services, GoogleCalendar) == [] and rows(app.services, OAuthState) == []
    connect(app)  # and once more, for the whole workspace uninstalling Heedful
    grants = len([c for c in fake.calls if c.path.endswith("/revoke") and c.status == 200])
    purge_team(app.services, team_id=TEAM)
    assert [c for c in fake.channels(ANA) if c.live(fake.now())] == []
    assert rows(app.services, GoogleCalendar) == [] and rows(app.services, CalendarSource) == []
    assert len([c for c in fake.calls if c.path.endswith("/revoke") and c.status == 200]) == (
        grants + 1
    )


def test_tokens_are_encrypted_at_rest_when_a_key_is_set(
    fake: FakeGoogle, settings: Settings, engine: Engine, clock: VirtualClock
) -> None:
    from cryptography.fernet import Fernet

    keyed = replace(settings, encryption_keys=(Fernet.generate_key().decode(),))
    with running_app(keyed, engine, clock) as app:
        services = app.services
        fake.route(PUBLIC, app.url)
        connect(app)
        (gcal,) = rows(services, GoogleCalendar)
        assert "refresh_token" not in gcal.tokens and gcal.tokens.startswith("fernet:")
        assert services.cipher.decrypt(gcal.channel_token) != gcal.channel_token


def test_first_sync_message_before_the_watch_returns_is_accepted(
    app: Heedful, fake: FakeGoogle
) -> None:
    fake.sync_before_response = True
    connect(app)
    syncs = [d for d in fake.deliveries if d.state == "sync"]
    wait_until(lambda: [d for d in fake.deliveries if d.state == "sync"], what="the sync message")
    assert all(d.status == 200 for d in syncs)


# --------------------------------------------------------------------------- from Slack


def test_heedful_connect_google_answers_with_a_sign_in_link_that_works(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    meeting(fake, clock)
    result = emulator.send_command(
        f"{app.url}/slack/events", "/heedful", "connect google", user_id="U1"
    )
    assert result.status == 200
    link = link_answered(emulator, "google")
    assert link.startswith(f"{PUBLIC}/oauth/google/start?state=")
    assert browse(app.url, link).status_code == 200
    app.process_inbox()
    assert len(reminders(app.services)) == 1


def test_the_home_tab_offers_google_then_lists_it_with_remove(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    events = f"{app.url}/slack/events"
    meeting(fake, clock)
    emulator.open_home(events, "U1")
    app.process_inbox()
    button = home_buttons(emulator.views["U1"])["home_connect_google"]
    assert button["url"].startswith(f"{PUBLIC}/oauth/google/start?state=")
    assert emulator.click_button(events, "U1", "home_connect_google", None, None).status == 200
    assert browse(app.url, button["url"]).status_code == 200
    app.process_inbox()
    emulator.open_home(events, "U1")
    app.process_inbox()
    buttons = home_buttons(emulator.views["U1"])
    assert "home_connect_google" not in buttons
    (source,) = rows(app.services, CalendarSource)
    assert buttons["home_remove_calendar"]["value"] == str(source.id)
    emulator.click_button(events, "U1", "home_remove_calendar", str(source.id), None)
    # The listener runs after the ack: the last thing it does is forget the occurrences.
    wait_until(
        lambda: (
            rows(app.services, GoogleCalendar) == [] and rows(app.services, OccurrenceRow) == []
        ),
        what="the calendar and its meetings removed",
    )
    assert [c for c in fake.channels(ANA) if c.live(fake.now())] == []
    assert rows(app.services, OccurrenceRow) == []


def test_not_configured_says_so_and_offers_no_button(
    settings: Settings, engine: Engine, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    plain = replace(settings, google_client_id=None, google_client_secret=None)
    with running_app(plain, engine, clock) as heedful:
        events = f"{heedful.url}/slack/events"
        emulator.send_command(events, "/heedful", "connect google", user_id="U1")
        heedful.process_inbox()
        wait_until(
            lambda: [
                r for r in emulator.responses if "isn't set up" in r["payload"].get("text", "")
            ],
            what="the answer that Google is not set up",
        )
        emulator.open_home(events, "U1")
        heedful.process_inbox()
        assert "home_connect_google" not in home_buttons(emulator.views["U1"])
        page = httpx.get(f"{heedful.url}/oauth/google/start?state=x")
        assert page.status_code == 404 and "set up here" in page.text


# --------------------------------------------------------------------------- faults


def test_a_429_storm_then_an_error_delays_the_change_and_loses_nothing(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    event = meeting(fake, clock, hours=5)
    connect(app)
    due = reminders(app.services)[event["id"]][1]
    (connected,) = rows(app.services, GoogleCalendar)
    sync_token = connected.sync_token
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=6))
    fake.fail_next("/events", 429, times=3, retry_after=30)
    fake.fail_next("/events", 500)
    with caplog.at_level(logging.DEBUG):
        push(app, fake)
        assert reminders(app.services)[event["id"]][1] == due  # not yet
        (row,) = [i for i in rows(app.services, InboxItem) if i.kind == "push"]
        assert row.state == "pending" and row.error == "GoogleUnavailable"
        for _ in range(6):  # the inbox retries with backoff; the faults run out
            clock.advance(timedelta(minutes=2))
            app.process_inbox()
    assert reminders(app.services)[event["id"]] == ("pending", due + timedelta(hours=1))
    assert len([r for r in rows(app.services, Delivery) if r.kind == "reminder"]) == 1
    (gcal,) = rows(app.services, GoogleCalendar)
    secrets = [app.services.cipher.decrypt(gcal.channel_token), gcal.sync_token, sync_token]
    secrets += json.loads(app.services.cipher.decrypt(gcal.tokens)).values()
    assert [s for s in secrets if s and str(s) in caplog.text] == []
    assert "1:1 with Ben" not in caplog.text


def test_an_expired_access_token_is_refreshed_and_kept(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    event = meeting(fake, clock, hours=5)
    connect(app)
    (before,) = rows(app.services, GoogleCalendar)
    fake.expire_access_tokens()
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=7))
    push(app, fake)
    (after,) = rows(app.services, GoogleCalendar)
    assert after.tokens != before.tokens  # the refreshed access token is stored
    assert reminders(app.services)[event["id"]][0] == "pending"
    refreshed = [c for c in fake.calls if c.path.endswith("/token") and c.status == 200]
    assert len(refreshed) == 2  # the code exchange, then one refresh


def test_the_window_moves_on_so_an_unchanged_meeting_beyond_it_comes_into_view(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    later = meeting(fake, clock, hours=20 * 24)  # beyond the first read's 14 days
    connect(app)
    assert [r.uid for r in rows(app.services, OccurrenceRow)] == []
    clock.advance(timedelta(days=7))  # nobody changes it, so no push says anything
    assert app.sync_google() == 1
    assert [r.uid for r in rows(app.services, OccurrenceRow)] == [later["id"]]
    full = [
        c
        for c in fake.calls
        if c.path.endswith("/events") and "timeMin" in c.query and c.status == 200
    ]
    assert len(full) == 2  # connecting, and once the window had moved on


def test_turning_feedback_on_reads_the_calendar_again_so_its_invitees_are_kept(
    app: Heedful, fake: FakeGoogle, clock: VirtualClock
) -> None:
    from bot import home
    from bot.messages import feedback as fkit
    from bot.storage.models import FeedbackMeeting

    crowd = [ANA, *(f"p{i}@example.com" for i in range(6))]
    weekly = meeting(fake, clock, summary="Team sync", attendees=crowd)
    fake.update_event(ANA, weekly["id"], recurrence=["RRULE:FREQ=WEEKLY"])
    connect(app)
    (series_key,) = {r.series_key for r in rows(app.services, OccurrenceRow)}
    action = {"action_id": fkit.ACTION_SERIES_ON, "value": series_key}
    home.on_feedback_toggle(app.services, team_id=TEAM, user_id="U1", action=action)
    assert app.sync_google() == 1  # due at once, not at the next poll
    kept = rows(app.services, FeedbackMeeting)
    assert kept and all(len(m.people) >= 5 for m in kept)
