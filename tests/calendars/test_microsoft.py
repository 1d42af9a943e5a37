"""Microsoft 365 calendars end to end: the real app over HTTP against the fake Microsoft.

MSAL (requests) and Graph (httpx) trust the fake's self-signed certificate the standard
way (REQUESTS_CA_BUNDLE, SSL_CERT_FILE). A browser is played by following redirects by
hand, mapping Heedful's public address (``https://heedful.test``) to the app's loopback
port; notifications travel the same way, from the fake to ``/hooks/microsoft``.
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
    fake_microsoft,
    home_buttons,
    link_answered,
    rows,
    running_app,
    with_microsoft,
)
from sqlalchemy.engine import Engine
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.config import Settings
from bot.emulator import FakeMicrosoft, SlackEmulator
from bot.services import Services, build_services
from bot.storage.models import (
    CalendarSource,
    Delivery,
    InboxItem,
    MicrosoftCalendar,
    OAuthState,
    OccurrenceRow,
)
from bot.sync import microsoft

TEAM = "T0001"
ANA = "ana@example.com"


@pytest.fixture(name="fake")
def fixture_fake(clock: VirtualClock, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMicrosoft]:
    with fake_microsoft(clock, monkeypatch, ANA) as fake:
        yield fake


@pytest.fixture(name="settings")
def fixture_microsoft_settings(settings: Settings, fake: FakeMicrosoft) -> Settings:
    return with_microsoft(settings, fake)


@pytest.fixture(name="app")
def fixture_app(heedful: Heedful, fake: FakeMicrosoft, services: Services) -> Heedful:
    fake.route(PUBLIC, heedful.url)
    add_person(services, team_id=TEAM, user_id="U1", email=ANA)
    return heedful


def connect(app: Heedful) -> httpx.Response:
    link = microsoft.connect_link(app.services, team_id=TEAM, user_id="U1")
    page = browse(app.url, link)
    app.process_inbox()
    return page


def meeting(fake: FakeMicrosoft, clock: VirtualClock, *, hours: float = 3, **fields: Any) -> dict:
    start = clock.now() + timedelta(hours=hours)
    return fake.add_event(
        ANA,
        **{
            "subject": "1:1 with Ben",
            "start": start,
            "end": start + timedelta(minutes=30),
            "attendees": ["ben@example.com"],
            "organizer": "ben@example.com",
            "response": "accepted",
            **fields,
        },
    )


def reminder_by_event(services: Services, event_id: str) -> tuple[str, datetime]:
    """The reminder of the occurrence whose Graph id is ``event_id``."""
    (occ,) = [r for r in rows(services, OccurrenceRow) if r.event_id == event_id]
    (found,) = [
        (r.state, r.due_at)
        for r in rows(services, Delivery)
        if r.kind == "reminder" and occ.key in r.ref
    ]
    return found


def notify(app: Heedful, fake: FakeMicrosoft) -> list[int | None]:
    """Announce the calendar's changes; the app stores them, then the worker syncs."""
    answers = [d.status for d in fake.notify(ANA)]
    app.process_inbox()
    return answers


def delta_calls(fake: FakeMicrosoft, status: int | None = None) -> list[Any]:
    return [
        c
        for c in fake.calls
        if c.path.endswith("/calendarView/delta") and (status is None or c.status == status)
    ]


# --------------------------------------------------------------------------- connect


def test_connecting_plans_the_week_subscribes_and_says_so(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    one = meeting(fake, clock, hours=3)
    meeting(fake, clock, hours=5, subject="Holiday", show_as="oof")
    page = connect(app)
    assert page.status_code == 200 and "you can close this tab" in page.text
    assert reminder_by_event(app.services, one["id"])[0] == "pending"
    assert len([r for r in rows(app.services, Delivery) if r.kind == "reminder"]) == 1
    (mscal,) = rows(app.services, MicrosoftCalendar)
    assert mscal.account == ANA and mscal.delta_link and mscal.subscription_id
    (subscription,) = fake.subscriptions(ANA)
    assert subscription.id == mscal.subscription_id
    assert subscription.notification_url == f"{PUBLIC}/hooks/microsoft"
    assert subscription.lifecycle_url == f"{PUBLIC}/hooks/microsoft/lifecycle"
    assert set(subscription.change_types) == {"created", "updated", "deleted"}
    validations = [d for d in fake.deliveries if d.kind == "validation"]
    assert len(validations) == 2 and all(d.status == 200 for d in validations)
    app.send_due()
    texts = [m.get("text", "") for m in emulator.messages("U1")]
    assert any("Connected your Outlook calendar" in t and "1 meeting" in t for t in texts)


def test_a_used_expired_or_unknown_state_stores_nothing(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    link = microsoft.connect_link(app.services, team_id=TEAM, user_id="U1")
    start = httpx.get(link.replace(PUBLIC, app.url), follow_redirects=False)
    consent = httpx.get(start.headers["location"], follow_redirects=False)
    callback = consent.headers["location"]
    assert browse(app.url, callback).status_code == 200
    again = browse(app.url, callback)
    assert again.status_code == 400 and "expired or was already used" in again.text
    assert browse(app.url, link).status_code == 400
    forged = browse(app.url, f"{PUBLIC}/oauth/microsoft/callback?state=made-up&code=x")
    assert forged.status_code == 400
    late = microsoft.connect_link(app.services, team_id=TEAM, user_id="U1")
    clock.advance(microsoft.STATE_TTL + timedelta(seconds=1))
    assert browse(app.url, late).status_code == 400
    assert len(rows(app.services, CalendarSource)) == 1
    assert len(rows(app.services, MicrosoftCalendar)) == 1


def test_a_refused_consent_stores_nothing(app: Heedful, fake: FakeMicrosoft) -> None:
    fake.deny_next_consent()
    page = connect(app)
    assert page.status_code == 400 and "not connected" in page.text
    assert rows(app.services, CalendarSource) == []
    assert rows(app.services, MicrosoftCalendar) == []


# --------------------------------------------------------------------------- notifications


def test_a_notified_move_cancel_decline_delete_and_addition_change_the_pending_nudges(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    moved, cancelled, declined = (meeting(fake, clock, hours=h) for h in (3, 4, 5))
    weekly = meeting(fake, clock, hours=6, subject="Team sync", series={"count": 2})
    first, _ = fake.instances(ANA, weekly["id"])
    connect(app)
    before = {e["id"]: reminder_by_event(app.services, e["id"]) for e in (moved, first)}
    assert before[first["id"]][0] == "pending"
    fake.move_event(ANA, moved["id"], clock.now() + timedelta(hours=3, minutes=10))
    fake.cancel_event(ANA, cancelled["id"])
    fake.set_response(ANA, declined["id"], "declined")
    fake.delete_event(ANA, first["id"])  # one instance of the series: an @removed entry
    added = meeting(fake, clock, hours=7)
    assert notify(app, fake) == [202]
    assert reminder_by_event(app.services, moved["id"]) == (
        "pending",
        before[moved["id"]][1] + timedelta(minutes=10),
    )
    assert reminder_by_event(app.services, cancelled["id"])[0] == "skipped"
    assert reminder_by_event(app.services, declined["id"])[0] == "skipped"
    assert reminder_by_event(app.services, first["id"])[0] == "skipped"
    assert reminder_by_event(app.services, added["id"])[0] == "pending"
    (series_row,) = [r for r in rows(app.services, OccurrenceRow) if r.event_id == first["id"]]
    assert (series_row.uid, series_row.recurring) == (weekly["id"], True)
    assert series_row.recurrence_id == first["originalStart"].replace(".0000000", "")[:19] + "Z"


def test_a_batch_of_three_with_one_unknown_subscription_stores_the_two_and_syncs_once(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    a, b = meeting(fake, clock, hours=3), meeting(fake, clock, hours=4)
    connect(app)
    (mscal,) = rows(app.services, MicrosoftCalendar)
    fake.move_event(ANA, a["id"], clock.now() + timedelta(hours=3, minutes=30))
    fake.move_event(ANA, b["id"], clock.now() + timedelta(hours=4, minutes=30))
    # What Graph would send stays queued in the fake: the test sends its own batch.
    good = [fake.notification_item(mscal.subscription_id, e["id"]) for e in (a, b)]
    stranger = {**good[0], "subscriptionId": "00000000-0000-0000-0000-000000000000"}
    deltas = len(delta_calls(fake))
    with caplog.at_level(logging.INFO):
        delivery = fake.send_notifications([good[0], stranger, good[1]])
        assert delivery.status == 202
        stored = [i for i in rows(app.services, InboxItem) if i.kind == "notification"]
        assert len(stored) == 1 and json.loads(stored[0].body)["items"] == 2
        # Graph's retry of the same POST is a no-op.
        assert fake.send_notifications([good[0], stranger, good[1]]).status == 202
        assert len([i for i in rows(app.services, InboxItem) if i.kind == "notification"]) == 1
        app.process_inbox()
    assert len(delta_calls(fake)) == deltas + 1  # one sync for the batch
    assert reminder_by_event(app.services, a["id"])[1] == a_due(app, a)
    assert "1 item(s) dropped" in caplog.text
    assert stranger["subscriptionId"] not in caplog.text


def a_due(app: Heedful, event: dict) -> datetime:
    """When the reminder of ``event`` is due now that it moved (its start minus the lead)."""
    (occ,) = [r for r in rows(app.services, OccurrenceRow) if r.event_id == event["id"]]
    (due,) = [
        r.due_at for r in rows(app.services, Delivery) if r.kind == "reminder" and occ.key in r.ref
    ]
    assert occ.start_at - due < timedelta(hours=1)
    return due


def test_a_wrong_client_state_changes_nothing_and_logs_no_payload(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, caplog: pytest.LogCaptureFixture
) -> None:
    event = meeting(fake, clock)
    connect(app)
    before = reminder_by_event(app.services, event["id"])
    (mscal,) = rows(app.services, MicrosoftCalendar)
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=8))
    # Graph's own notification stays queued in the fake: only the forged one arrives.
    item = {**fake.notification_item(mscal.subscription_id, event["id"]), "clientState": "forged"}
    with caplog.at_level(logging.DEBUG):
        assert fake.send_notifications([item]).status == 202
        app.process_inbox()
    assert [i for i in rows(app.services, InboxItem) if i.kind == "notification"] == []
    assert reminder_by_event(app.services, event["id"]) == before
    assert "dropped" in caplog.text
    for secret in ("forged", event["id"], "1:1 with Ben", mscal.subscription_id):
        assert secret not in caplog.text
    assert app.services.cipher.decrypt(mscal.client_state) not in caplog.text
    not_json = httpx.post(f"{app.url}/hooks/microsoft", content=b"{not json")
    assert not_json.status_code == 400


def test_notifications_that_queued_up_are_folded_into_one_sync(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    event = meeting(fake, clock)
    connect(app)
    deltas = len(delta_calls(fake))
    for hours in (4, 5, 6):
        fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=hours))
        assert [d.status for d in fake.notify(ANA)] == [202]
    app.process_inbox()
    assert len(delta_calls(fake)) == deltas + 1
    (occ,) = [r for r in rows(app.services, OccurrenceRow) if r.event_id == event["id"]]
    assert occ.start_at == clock.now() + timedelta(hours=6)


# --------------------------------------------------------------------------- lifecycle


def test_reauthorization_required_reauthorizes_the_subscription(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    connect(app)
    (mscal,) = rows(app.services, MicrosoftCalendar)
    assert fake.lifecycle(ANA, "reauthorizationRequired").status == 202
    app.process_inbox()
    reauthorized = [c for c in fake.calls if c.path.endswith("/reauthorize")]
    assert [c.status for c in reauthorized] == [204]
    assert reauthorized[0].path.endswith(f"/subscriptions/{mscal.subscription_id}/reauthorize")
    (subscription,) = fake.subscriptions(ANA)
    assert not subscription.reauthorization_required


def test_subscription_removed_subscribes_again_then_syncs(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    connect(app)
    (first,) = rows(app.services, MicrosoftCalendar)
    event = meeting(fake, clock, hours=4)  # made while nobody was subscribed to hear it
    assert fake.lifecycle(ANA, "subscriptionRemoved").status == 202
    assert fake.subscriptions(ANA) == []
    app.process_inbox()
    (now,) = rows(app.services, MicrosoftCalendar)
    (subscription,) = fake.subscriptions(ANA)
    assert subscription.id == now.subscription_id != first.subscription_id
    assert reminder_by_event(app.services, event["id"])[0] == "pending"
    later = meeting(fake, clock, hours=5)
    assert notify(app, fake) == [202]  # the new subscription is heard
    assert reminder_by_event(app.services, later["id"])[0] == "pending"


def test_missed_notifications_lead_to_a_sync(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    connect(app)
    event = meeting(fake, clock, hours=9)
    assert fake.lifecycle(ANA, "missed").status == 202  # its notification is dropped
    assert fake.notify(ANA) == []
    app.process_inbox()
    assert reminder_by_event(app.services, event["id"])[0] == "pending"


def test_a_forged_lifecycle_notification_is_dropped(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    connect(app)
    (mscal,) = rows(app.services, MicrosoftCalendar)
    forged = {
        "value": [
            {
                "lifecycleEvent": "subscriptionRemoved",
                "subscriptionId": mscal.subscription_id,
                "clientState": "guess",
            }
        ]
    }
    answer = httpx.post(f"{app.url}/hooks/microsoft/lifecycle", json=forged)
    assert answer.status_code == 202
    assert [i for i in rows(app.services, InboxItem) if i.kind.startswith("lifecycle")] == []
    assert [s.id for s in fake.subscriptions(ANA)] == [mscal.subscription_id]


# --------------------------------------------------------------------------- delta faults


def test_a_410_mid_paging_leads_to_one_full_resync_and_no_duplicate_nudge(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [meeting(fake, clock, hours=3 + h) for h in range(3)]
    connect(app)
    monkeypatch.setattr(microsoft, "PAGE_SIZE", 1)  # one change a page
    for e in events:  # three changes: three pages in the next incremental round
        fake.move_event(ANA, e["id"], clock.now() + timedelta(hours=12, minutes=len(e["id"]) % 7))
    # The delta token's first page is answered; the next page, Graph has forgotten.
    fake.fail_next("/me/calendarView/delta", 410, code="SyncStateNotFound", after=1)
    assert notify(app, fake) == [202]
    incremental = [c for c in delta_calls(fake) if "$deltatoken" in c.query]
    assert [c.status for c in incremental] == [200]  # the round began once
    assert len(delta_calls(fake, 410)) == 1
    full_reads = [c for c in delta_calls(fake, 200) if "startDateTime" in c.query]
    assert len(full_reads) == 2  # connecting, then one full read (its first page)
    reminder_rows = [r for r in rows(app.services, Delivery) if r.kind == "reminder"]
    assert len(reminder_rows) == 3 and len({r.ref for r in reminder_rows}) == 3
    assert len(rows(app.services, OccurrenceRow)) == 3
    for e in events:
        (occ,) = [r for r in rows(app.services, OccurrenceRow) if r.event_id == e["id"]]
        assert occ.start_at >= clock.now() + timedelta(hours=12)


def test_resync_required_drops_the_delta_link_and_reads_in_full(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    event = meeting(fake, clock)
    connect(app)
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=5))
    fake.fail_next("/me/calendarView/delta", 410, code="resyncRequired")
    assert notify(app, fake) == [202]
    assert reminder_by_event(app.services, event["id"])[0] == "pending"
    (occ,) = rows(app.services, OccurrenceRow)
    assert occ.start_at == clock.now() + timedelta(hours=5)
    assert len([r for r in rows(app.services, Delivery) if r.kind == "reminder"]) == 1


def test_a_dropped_notification_is_caught_by_the_periodic_sync_and_the_subscription_renewed(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    event = meeting(fake, clock, hours=30)
    connect(app)
    (first,) = rows(app.services, MicrosoftCalendar)
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=31))  # nobody is told
    clock.advance(timedelta(minutes=app.services.settings.calendar_poll_minutes))
    assert app.sync_microsoft() == 1
    (occ,) = rows(app.services, OccurrenceRow)
    assert occ.start_at == first.synced_at + timedelta(hours=31)
    clock.advance(microsoft.SUBSCRIPTION_TTL - microsoft.RENEW_BEFORE + timedelta(minutes=1))
    assert app.sync_microsoft() == 1
    (renewed,) = rows(app.services, MicrosoftCalendar)
    assert renewed.subscription_id == first.subscription_id
    assert renewed.subscription_expires_at > first.subscription_expires_at
    assert [c.status for c in fake.calls if c.method == "PATCH"] == [200]
    (subscription,) = fake.subscriptions(ANA)
    assert subscription.id == renewed.subscription_id


def test_the_window_moves_on_so_an_unchanged_meeting_beyond_it_comes_into_view(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    later = meeting(fake, clock, hours=20 * 24)  # beyond the first read's 14 days
    connect(app)
    assert [r.event_id for r in rows(app.services, OccurrenceRow)] == []
    clock.advance(timedelta(days=7))  # nobody changes it, so no notification says anything
    assert app.sync_microsoft() == 1
    assert [r.event_id for r in rows(app.services, OccurrenceRow)] == [later["id"]]
    full = [c for c in delta_calls(fake, 200) if "startDateTime" in c.query]
    assert len(full) == 2  # connecting, and once the window had moved on


# --------------------------------------------------------------------------- the grant


def test_an_expired_access_token_is_refreshed_and_kept(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    event = meeting(fake, clock, hours=5)
    connect(app)
    (before,) = rows(app.services, MicrosoftCalendar)
    fake.expire_access_tokens()
    fake.move_event(ANA, event["id"], clock.now() + timedelta(hours=7))
    assert notify(app, fake) == [202]
    (after,) = rows(app.services, MicrosoftCalendar)
    assert after.token_cache != before.token_cache  # the refreshed tokens are stored
    (occ,) = rows(app.services, OccurrenceRow)
    assert occ.start_at == clock.now() + timedelta(hours=7)


def test_a_revoked_grant_tells_the_person_once_with_a_reconnect_button(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    connect(app)
    app.send_due()
    fake.revoke_grant(ANA)
    fake.expire_access_tokens()
    for _ in range(2):
        clock.advance(timedelta(minutes=app.services.settings.calendar_poll_minutes))
        app.sync_microsoft()
        meeting(fake, clock)
        notify(app, fake)
    app.send_due()
    (source,) = rows(app.services, CalendarSource)
    assert source.status == "broken"
    warnings = [m for m in emulator.messages("U1") if "no longer read your Outlook" in m["text"]]
    assert len(warnings) == 1
    buttons = [e for b in warnings[0]["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert buttons and buttons[0]["url"].startswith(f"{PUBLIC}/oauth/microsoft/start?state=")


def test_disconnect_erase_and_uninstall_delete_the_subscription_and_every_token(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock
) -> None:
    from bot.privacy import erase_user, export_user, purge_team

    meeting(fake, clock)
    connect(app)
    exported = json.dumps(export_user(app.services, team_id=TEAM, user_id="U1"))
    (mscal,) = rows(app.services, MicrosoftCalendar)
    for secret in (mscal.token_cache, mscal.client_state, mscal.delta_link):
        assert secret not in exported
    assert microsoft.disconnect(app.services, team_id=TEAM, user_id="U1")
    assert fake.subscriptions(ANA) == []
    deleted = [c for c in fake.calls if c.method == "DELETE"]
    assert [c.status for c in deleted] == [204]
    assert rows(app.services, MicrosoftCalendar) == [] and rows(app.services, OccurrenceRow) == []
    connect(app)
    assert fake.subscriptions(ANA)
    erase_user(app.services, team_id=TEAM, user_id="U1")
    assert fake.subscriptions(ANA) == []
    assert rows(app.services, MicrosoftCalendar) == [] and rows(app.services, OAuthState) == []
    connect(app)  # and once more, for the whole workspace uninstalling Heedful
    purge_team(app.services, team_id=TEAM)
    assert fake.subscriptions(ANA) == []
    assert rows(app.services, MicrosoftCalendar) == [] and rows(app.services, CalendarSource) == []
    assert [c.status for c in fake.calls if c.method == "DELETE"] == [204, 204, 204]


def test_tokens_are_encrypted_at_rest_when_a_key_is_set(
    fake: FakeMicrosoft, settings: Settings, engine: Engine, clock: VirtualClock
) -> None:
    from cryptography.fernet import Fernet

    from bot.privacy import rotate_keys

    keyed = replace(settings, encryption_keys=(Fernet.generate_key().decode(),))
    with running_app(keyed, engine, clock) as app:
        services = app.services
        fake.route(PUBLIC, app.url)
        connect(app)
        (mscal,) = rows(services, MicrosoftCalendar)
        assert mscal.token_cache.startswith("fernet:") and "refresh_token" not in mscal.token_cache
        assert mscal.client_state.startswith("fernet:")
        assert "RefreshToken" in services.cipher.decrypt(mscal.token_cache)
        newer = replace(
            keyed, encryption_keys=(Fernet.generate_key().decode(), *keyed.encryption_keys)
        )
        rotated = build_services(newer, clock=clock, engine=engine)
        assert rotate_keys(rotated) >= 2
        (again,) = rows(services, MicrosoftCalendar)
        assert again.token_cache != mscal.token_cache
        assert rotated.cipher.decrypt(again.token_cache) == services.cipher.decrypt(
            mscal.token_cache
        )


# --------------------------------------------------------------------------- validation


def test_validation_is_answered_with_the_decoded_token_as_plain_text(app: Heedful) -> None:
    for path in ("/hooks/microsoft", "/hooks/microsoft/lifecycle"):
        answer = httpx.post(
            f"{app.url}{path}?validationToken=Validation%3A%20Testing%20client%2Bapp",
            headers={"Content-Type": "text/plain"},
        )
        assert answer.status_code == 200
        assert answer.text == "Validation: Testing client+app"
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
        assert answer.headers["x-content-type-options"] == "nosniff"


def test_validation_is_refused_when_the_token_would_be_reflected_as_html(
    app: Heedful, fake: FakeMicrosoft
) -> None:
    url = f"{app.url}/hooks/microsoft"
    html_only = httpx.post(f"{url}?validationToken=abc", headers={"Accept": "text/html"})
    assert html_only.status_code == 406 and html_only.text == ""
    markup = httpx.post(f"{url}?validationToken=%3Cscript%3Ealert(1)%3C%2Fscript%3E")
    assert markup.status_code == 400 and "script" not in markup.text
    assert "html" not in markup.headers["content-type"]
    # Graph itself then refuses the subscription: nothing is reflected, nothing is made.
    fake.set_next_validation_token("<img src=x onerror=alert(1)>")
    with pytest.raises(microsoft.GraphUnavailable):
        connect_then_subscribe(app)
    assert fake.subscriptions(ANA) == []


def connect_then_subscribe(app: Heedful) -> None:
    link = microsoft.connect_link(app.services, team_id=TEAM, user_id="U1")
    assert browse(app.url, link).status_code == 200
    (mscal,) = rows(app.services, MicrosoftCalendar)
    microsoft.open_subscription(app.services, mscal.source_id)


# --------------------------------------------------------------------------- from Slack


def test_heedful_connect_outlook_answers_with_a_sign_in_link_that_works(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    meeting(fake, clock)
    result = emulator.send_command(
        f"{app.url}/slack/events", "/heedful", "connect outlook", user_id="U1"
    )
    assert result.status == 200
    link = link_answered(emulator, "microsoft")
    assert link.startswith(f"{PUBLIC}/oauth/microsoft/start?state=")
    assert browse(app.url, link).status_code == 200
    app.process_inbox()
    assert len([r for r in rows(app.services, Delivery) if r.kind == "reminder"]) == 1


def test_the_home_tab_offers_outlook_then_lists_it_with_remove(
    app: Heedful, fake: FakeMicrosoft, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    events = f"{app.url}/slack/events"
    meeting(fake, clock)
    emulator.open_home(events, "U1")
    app.process_inbox()
    button = home_buttons(emulator.views["U1"])["home_connect_microsoft"]
    assert button["url"].startswith(f"{PUBLIC}/oauth/microsoft/start?state=")
    assert emulator.click_button(events, "U1", "home_connect_microsoft", None, None).status == 200
    assert browse(app.url, button["url"]).status_code == 200
    app.process_inbox()
    emulator.open_home(events, "U1")
    app.process_inbox()
    buttons = home_buttons(emulator.views["U1"])
    assert "home_connect_microsoft" not in buttons
    (source,) = rows(app.services, CalendarSource)
    assert buttons["home_remove_calendar"]["value"] == str(source.id)
    emulator.click_button(events, "U1", "home_remove_calendar", str(source.id), None)
    wait_until(
        lambda: (
            rows(app.services, MicrosoftCalendar) == [] and rows(app.services, OccurrenceRow) == []
        ),
        what="the calendar and its meetings removed",
    )
    assert fake.subscriptions(ANA) == []


def test_not_configured_says_so_and_offers_no_button(
    settings: Settings, engine: Engine, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    plain = replace(settings, microsoft_client_id=None, microsoft_client_secret=None)
    with running_app(plain, engine, clock) as heedful:
        events = f"{heedful.url}/slack/events"
        emulator.send_command(events, "/heedful", "connect outlook", user_id="U1")
        heedful.process_inbox()
        wait_until(
            lambda: [
                r for r in emulator.responses if "aren't set up" in r["payload"].get("text", "")
            ],
            what="the answer that Microsoft is not set up",
        )
        emulator.open_home(events, "U1")
        heedful.process_inbox()
        assert "home_connect_microsoft" not in home_buttons(emulator.views["U1"])
        page = httpx.get(f"{heedful.url}/oauth/microsoft/start?state=x")
        assert page.status_code == 404 and "set up here" in page.text
