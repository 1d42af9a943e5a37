"""Erase: after ``/heedful forget`` (or the Home tab's button) and one confirmation, no
row naming the person remains in any table, what was pending for them is gone, and
days later Heedful has still sent them nothing. Everyone else is untouched."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from people import ANA, BEN, TEAM, count_rows, rows_of, seed
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.services import Services
from bot.storage import repository as repo


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _nothing_left_of_ana(services: Services) -> None:
    left = {table: rows for table, rows in rows_of(services, ANA.user_id).items() if rows}
    assert left == {}


def _days_later_nothing_is_sent(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    """Ten days of the scheduler's work (digests planned, outbox drained): no DM to Ana;
    Ben still gets his."""
    before_ana = len(emulator.bot_messages(ANA.user_id))
    before_ben = len(emulator.bot_messages(BEN.user_id))
    end = clock.now() + timedelta(days=10)
    while clock.now() < end:
        heedful.plan_digests()
        heedful.send_due()
        heedful.process_inbox()
        due = repo.next_due(engine=services.engine)
        step = clock.now() + timedelta(hours=1)
        clock.set(min(step, due) if due is not None and due > clock.now() else step)
    assert len(emulator.bot_messages(ANA.user_id)) == before_ana
    assert len(emulator.bot_messages(BEN.user_id)) > before_ben  # his week went on
    _nothing_left_of_ana(services)


def test_forget_then_confirm_erases_everything_and_nothing_more_is_sent(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    bens_rows = rows_of(services, BEN.user_id)
    assert any(r["state"] == "pending" for r in rows_of(services, ANA.user_id)["delivery"])

    result = emulator.send_command(_events(heedful), "/heedful", "forget", user_id=ANA.user_id)
    assert result.status == 200
    wait_until(lambda: len(emulator.responses) >= 1, what="the first response")
    asked = emulator.responses[0]["payload"]
    assert asked["text"] == load_prompts().text("forget.confirm")
    assert asked.get("response_type") == "ephemeral"
    buttons = [e for b in asked["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert [b["action_id"] for b in buttons] == [kit.ACTION_ERASE_CONFIRM]  # asks once
    assert count_rows(services, ANA.user_id)["reflection"] == 1  # asking erased nothing

    # Her click on that button (an ephemeral message: Slack sends its blocks along).
    shown = {"ts": "1700000000.000100", "text": asked["text"], "blocks": asked["blocks"]}
    payload = emulator.block_actions_payload(ANA.user_id, kit.ACTION_ERASE_CONFIRM, message=shown)
    payload["container"]["is_ephemeral"] = True
    assert emulator.send_interaction(_events(heedful), payload).status == 200
    wait_until(lambda: len(emulator.responses) >= 2, what="the second response")
    done = emulator.responses[1]["payload"]
    assert done["text"] == load_prompts().text("forget.done")
    assert done.get("replace_original") in (True, "true")

    _nothing_left_of_ana(services)
    assert rows_of(services, BEN.user_id) == bens_rows
    _days_later_nothing_is_sent(heedful, services, clock, emulator)


def test_the_home_tab_erase_button_and_form_erase_everything(
    heedful: Heedful, services: Services, clock: VirtualClock, emulator: SlackEmulator
) -> None:
    seed(heedful, services, clock, emulator)
    bens_rows = rows_of(services, BEN.user_id)
    emulator.open_home(_events(heedful), ANA.user_id)
    heedful.process_inbox()
    heedful.send_due()  # the welcome a first visit brings

    emulator.click_button(_events(heedful), ANA.user_id, kit.ACTION_HOME_ERASE)
    wait_until(lambda: len(emulator.opened_views) >= 1, what="the erase form")
    (form,) = emulator.opened_views
    assert form["callback_id"] == kit.VIEW_ERASE
    assert count_rows(services, ANA.user_id)["reflection"] == 1  # opening it erased nothing

    result = emulator.submit_view(_events(heedful), ANA.user_id, form, {})
    assert result.status == 200
    done = load_prompts().text("forget.done")
    wait_until(
        lambda: any(m["text"] == done for m in emulator.bot_messages(ANA.user_id)),
        what="the erase confirmation",
    )

    _nothing_left_of_ana(services)
    home = emulator.views[ANA.user_id]  # the Home tab shows a stranger's view again
    assert ANA.name not in str(home) and "work calendar" not in str(home)
    assert rows_of(services, BEN.user_id) == bens_rows
    _days_later_nothing_is_sent(heedful, services, clock, emulator)


@pytest.fixture(name="feed")
def fixture_feed() -> Iterator[str]:
    """A loopback calendar feed with one meeting with others, whose title changes at
    every read (so each refresh finds something new)."""
    reads = []

    class Feed(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reads.append(1)
            body = (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
                f"UID:x@t\r\nDTSTAMP:20260301T000000Z\r\nSUMMARY:Planning {len(reads)}\r\n"
                "DTSTART:20260303T090000Z\r\nDTEND:20260303T100000Z\r\n"
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ana@example.com\r\n"
                "ATTENDEE;PARTSTAT=ACCEPTED:mailto:ben@example.com\r\n"
                "END:VEVENT\r\nEND:VCALENDAR\r\n"
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/calendar")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Feed)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/ana.ics"
    server.shutdown()
    server.server_close()


def test_a_feed_being_read_while_its_owner_erases_leaves_nothing_behind(
    services: Services, clock: VirtualClock, feed: str
) -> None:
    from bot.privacy import erase_user
    from bot.sync import feeds

    clock.set(datetime(2026, 3, 2, 7, 0, tzinfo=UTC))
    feeds.connect_feed(services, team_id=TEAM, user_id=ANA.user_id, url=feed)
    clock.advance(timedelta(hours=1))
    (row,) = feeds.claim_due_sources(services)  # a refresh starts reading the feed …
    erase_user(services, team_id=TEAM, user_id=ANA.user_id)  # … she erases meanwhile
    feeds.refresh_source(services, row)
    _nothing_left_of_ana(services)
