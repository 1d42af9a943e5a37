"""handlers/actions/commitments.py: *Bring this back*, *Did you do it?* and the Home tab's
*Did it* / *Drop*: one call into ``bot.commitments`` (or ``bot.home``), one Slack call."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from handling import USER, Slack

from bot.messages import Message
from bot.messages import commitments as ckit
from bot.messages.prompts import load_prompts
from bot.storage.models import Commitment

PROMPTS = load_prompts()
COMMIT = Commitment.__table__  # type: ignore[attr-defined]
SAID = "I'll ask Ben first."


def _a_commitment(slack: Slack, answer: int = 1) -> int:
    with slack.services.engine.begin() as conn:
        return int(
            conn.execute(
                sa.insert(COMMIT)
                .values(
                    team_id=slack.team,
                    user_id=USER,
                    reflection_id=answer,
                    text=slack.services.cipher.encrypt(SAID),
                    series_key="ics:1|ben",
                    people=["ben@example.com"],
                    state="open",
                    accepted_at=slack.clock.now(),
                )
                .returning(COMMIT.c.id)
            ).scalar_one()
        )


def _state(slack: Slack, commitment_id: int) -> str:
    with slack.services.engine.connect() as conn:
        return str(
            conn.execute(sa.select(COMMIT.c.state).where(COMMIT.c.id == commitment_id)).scalar()
        )


def _offer() -> dict[str, Any]:
    offer = ckit.build_commitment_offer(PROMPTS, lead="Lead:", words=SAID, reflection_id=999)
    return {"text": offer.text, "blocks": offer.blocks}


def test_keep_for_an_answer_that_is_gone_says_so_in_place_of_the_button(slack: Slack) -> None:
    question = slack.question()
    message = {**question, **_offer()}
    slack.click(ckit.ACTION_KEEP, message=message)
    (update,) = slack.calls("chat.update")
    assert PROMPTS.text("commitment.accepted_gone") in str(update.params["blocks"])
    assert ckit.ACTION_KEEP not in str(update.params["blocks"])


def test_did_you_do_it_records_the_tap_and_replaces_the_buttons(slack: Slack) -> None:
    question = slack.question()
    commitment_id = _a_commitment(slack)
    asked = ckit.build_commitment_check(
        PROMPTS,
        Message(text=question["text"], blocks=question["blocks"]),
        commitment_id=commitment_id,
        words=SAID,
    )
    slack.click(
        ckit.check_action("yes"),
        value=str(commitment_id),
        message={**question, "blocks": asked.blocks},
    )
    (update,) = slack.calls("chat.update")
    assert ckit.ACTION_CHECK not in str(update.params["blocks"])
    assert _state(slack, commitment_id) == "kept"


def test_home_did_it_and_drop_close_it_and_republish(slack: Slack) -> None:
    slack.has_a_meeting()
    done, dropped = _a_commitment(slack, 1), _a_commitment(slack, 2)
    assert SAID in str(slack.open_home()["blocks"])
    slack.click(ckit.ACTION_DONE, value=str(done))
    slack.calls("views.publish", count=2)
    slack.click(ckit.ACTION_DROP, value=str(dropped))
    slack.calls("views.publish", count=3)
    assert (_state(slack, done), _state(slack, dropped)) == ("kept", "dropped")
    assert SAID not in str(slack.emulator.views[USER]["blocks"])
