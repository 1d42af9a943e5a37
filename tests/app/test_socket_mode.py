"""Socket Mode: the same inbox path, over the emulator's WebSocket."""

from __future__ import annotations

import dataclasses
import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from nudges.nudging import track_listeners
from waiting import wait_until

from bot.app import Heedful
from bot.emulator import SlackEmulator
from bot.messages import blocks as kit
from bot.services import Services
from bot.storage.models import InboxItem


@pytest.fixture(name="socket_app")
def fixture_socket_app(services: Services, emulator: SlackEmulator) -> Iterator[Heedful]:
    services.settings = dataclasses.replace(services.settings, slack_app_token=emulator.app_token)
    app = Heedful(services, run_workers=False)
    app.start()
    emulator.wait_for_socket()
    yield app
    emulator.disconnect_sockets(notify=False)
    app.stop()


def test_an_event_over_socket_mode_is_stored_acked_and_processed_once(
    socket_app: Heedful, emulator: SlackEmulator
) -> None:
    event = {"type": "app_home_opened", "user": "U1", "channel": "D1", "tab": "home"}
    envelope = emulator.event_envelope(event)
    for _ in range(2):  # Slack redelivers over Socket Mode too
        result = emulator.deliver_envelope(None, envelope, via="socket")
        assert result.envelope_id  # the app acked it
    socket_app.process_inbox()

    t = InboxItem.__table__.c
    with socket_app.services.engine.connect() as conn:
        assert conn.execute(sa.select(t.state)).scalars().all() == ["done"]
    assert len(emulator.calls_to("views.publish")) == 1


def test_socket_mode_still_serves_health_but_not_slack_http(socket_app: Heedful) -> None:
    with urllib.request.urlopen(f"{socket_app.url}/healthz", timeout=5) as response:
        assert json.load(response)["mode"] == "socket"
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(
            urllib.request.Request(f"{socket_app.url}/slack/events", data=b"{}"), timeout=5
        )
    assert info.value.code == 404


def test_an_interaction_delivered_twice_over_socket_mode_acts_once(
    socket_app: Heedful, emulator: SlackEmulator
) -> None:
    """No signature in Socket Mode: the trigger_id is the request's key."""
    emulator.open_home(None, "U1", via="socket")
    socket_app.process_inbox()
    listeners = track_listeners(socket_app)
    click = emulator.block_actions_payload("U1", kit.ACTION_HOME_EXPORT)
    for _ in range(2):
        assert emulator.send_interaction(None, click, via="socket").envelope_id

    def uploads() -> int:
        return len(emulator.calls_to("files.completeUploadExternal"))

    wait_until(uploads, what="the export's upload")
    listeners.wait()
    assert uploads() == 1
