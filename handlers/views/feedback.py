"""The form with words for a 1:1: nothing is stored or sent; closing it is all."""

from __future__ import annotations

from bot.listener import acked


@acked
def handle_feedback_words_submission() -> None:
    """Nothing to do: the wrapper acks, which closes the form."""
