"""The form with words for a 1:1: nothing is stored or sent; closing it is all."""

from __future__ import annotations

from slack_bolt import Ack


def handle_feedback_words_submission(ack: Ack) -> None:
    ack()
