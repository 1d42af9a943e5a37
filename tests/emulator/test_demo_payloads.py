"""``heedful demo`` (run in-process, as ``bot.demo`` runs it) sends nothing Slack would
refuse: every DM, the Home tab and every modal pass slack_sdk.models and Slack's
documented limits, and its emulator refused no payload."""

from __future__ import annotations

import argparse
import io
import json

from slack_sdk.models.blocks import Block

from bot.demo import Demo, add_demo_arguments
from bot.emulator.blocks import validate_message, validate_view


def test_the_demo_sends_nothing_slack_would_refuse() -> None:
    parser = argparse.ArgumentParser()
    add_demo_arguments(parser)
    args = parser.parse_args(["--start", "2026-03-23", "--days", "7", "--json"])
    out = io.StringIO()
    demo = Demo(args, out=out)

    assert demo.run() == 0

    emulator = demo.emulator
    assert emulator is not None
    assert emulator.refusals == []
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    sent = [line for line in lines if line["kind"] != "answer"]
    assert {"welcome", "reminder", "reflection", "digest"} <= {line["kind"] for line in sent}
    for line in sent:
        assert validate_message(line["text"], line["blocks"]) == [], line["kind"]
        assert [Block.parse(b).to_dict() for b in line["blocks"]] == line["blocks"]
    # What the emulator holds is what Slack would show: blocks, not a plain-text fallback
    # (a short confirmation, such as the one after the why is saved, is its text alone).
    notices = {line["text"] for line in sent if line["kind"] == "notice"}
    messages = emulator.bot_messages(demo.user_id)
    assert notices and messages
    assert all(
        m.get("blocks") for m in messages if not m.get("thread_ts") and m["text"] not in notices
    )
    views = [*emulator.views.values(), *emulator.opened_views]
    assert views
    for view in views:
        assert validate_view(view) == [], view["type"]
