"""A signed slash command or interaction replayed within Slack's 5-minute window is
acknowledged and does nothing: exactly one effect per request."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from nudges.nudging import TrackingExecutor, track_listeners
from posting import post
from waiting import wait_until

from bot.app import Heedful
from bot.clock import VirtualClock
from bot.emulator import SlackEmulator
from bot.emulator.inbound import encode_form
from bot.inbox import SLACK_REQUEST
from bot.messages import blocks as kit
from bot.messages.prompts import load_prompts
from bot.privacy import INBOX_KEEP
from bot.storage.models import InboxItem

ANA = "U1"


def _events(heedful: Heedful) -> str:
    return f"{heedful.url}/slack/events"


def _uploads(emulator: SlackEmulator) -> int:
    return len(emulator.calls_to("files.completeUploadExternal"))


def _settled(listeners: TrackingExecutor) -> None:
    """Every listener a request started has finished (a replay that got through would
    have started one)."""
    listeners.wait()


def _keys(heedful: Heedful) -> list[Any]:
    t = InboxItem.__table__.c
    with heedful.services.engine.connect() as conn:
        return list(
            conn.execute(
                sa.select(t.kind, t.state, t.user_id, t.body, t.received_at).where(
                    t.source == SLACK_REQUEST
                )
            )
        )


def test_a_replayed_export_command_uploads_once(heedful: Heedful, emulator: SlackEmulator) -> None:
    listeners = track_listeners(heedful)
    stamp = int(time.time())
    first = emulator.send_command(
        _events(heedful), "/heedful", "export", user_id=ANA, timestamp=stamp
    )
    assert first.status == 200
    wait_until(lambda: _uploads(emulator) == 1, what="the export's upload")

    # The very same bytes and signature, as someone who saw the request would send them.
    body = encode_form(first.request)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    signed = {**headers, **emulator.sign(body, timestamp=stamp)}
    assert post(_events(heedful), body, signed)[0] == 200
    _settled(listeners)
    assert _uploads(emulator) == 1

    # A new request (a new trigger_id) is not a replay.
    assert emulator.send_command(_events(heedful), "/heedful", "export", user_id=ANA).status == 200
    wait_until(lambda: _uploads(emulator) == 2, what="the second export's upload")
    (kind, state, user, stored, _at), _second = _keys(heedful)
    assert (kind, state, user, stored) == ("command", "done", None, "")


def test_a_replayed_button_click_acts_once(heedful: Heedful, emulator: SlackEmulator) -> None:
    emulator.open_home(_events(heedful), ANA)
    heedful.process_inbox()
    listeners = track_listeners(heedful)
    click = emulator.block_actions_payload(ANA, kit.ACTION_HOME_EXPORT)
    stamp = int(time.time())
    for _ in range(3):
        result = emulator.send_interaction(_events(heedful), click, timestamp=stamp)
        assert result.status == 200
    wait_until(lambda: _uploads(emulator) >= 1, what="the export's upload")
    _settled(listeners)
    assert _uploads(emulator) == 1


def test_a_replayed_view_submission_acts_once(heedful: Heedful, emulator: SlackEmulator) -> None:
    emulator.open_home(_events(heedful), ANA)
    heedful.process_inbox()
    emulator.click_button(_events(heedful), ANA, kit.ACTION_HOME_ERASE)
    (form,) = wait_until(lambda: emulator.opened_views, what="the erase form")
    listeners = track_listeners(heedful)
    submission = emulator.view_submission_payload(ANA, form, {})
    stamp = int(time.time())
    for _ in range(2):
        result = emulator.send_interaction(_events(heedful), submission, timestamp=stamp)
        assert result.status == 200
    done = load_prompts().text("forget.done")

    def confirmations() -> int:
        return sum(m["text"] == done for m in emulator.bot_messages(ANA))

    wait_until(confirmations, what="the erase confirmation")
    _settled(listeners)
    assert confirmations() == 1


def test_request_keys_expire_with_the_processed_inbox(
    heedful: Heedful, emulator: SlackEmulator, clock: VirtualClock
) -> None:
    result = emulator.send_command(_events(heedful), "/heedful", "help", user_id=ANA)
    assert result.status == 200
    assert len(_keys(heedful)) == 1
    clock.advance(INBOX_KEEP - timedelta(minutes=1))
    heedful.housekeeping()
    assert len(_keys(heedful)) == 1
    clock.advance(timedelta(minutes=2))
    heedful.housekeeping()
    assert _keys(heedful) == []
