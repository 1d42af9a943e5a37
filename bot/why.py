"""The "Your why" form: what its button opens and what a submission does (the logic behind
the thin listeners in ``handlers/``; nothing here calls Slack).

One button opens it, in the welcome DM and on the Home tab: a short modal asking what kind
of leader the person wants to be, and for whom (multi-line, at most
:data:`~bot.focus.WHY_MAX_CHARS` characters), and for one practice to focus on for the next
few weeks.

How the focus is suggested, without in-form round trips: the select's first option is
"Suggest one from what I write", and it is the initial option until the person picks a
practice themselves. On submission Heedful suggests the practice from the words
(:func:`bot.focus.suggest_focus`, deterministic) and says which in the confirmation and on
the Home tab, where Edit reopens the form. Reopened, the first option names the practice
the saved words suggest now ("Suggested from my words: Slow down"), so a person who edits
their words and keeps that option gets the suggestion refreshed for the new words, and one
who picked a practice sees it selected. Suggesting while they type would need
``dispatch_action`` and a ``views.update`` per pause in typing, racing what they type next;
a suggestion on save, shown at once and changeable any time, does the same job with none of
that.

The weekly digest's three-week offer (``bot.digest``) is answered here too: *Keep it*
(:func:`on_focus_keep`) and *Move on* (:func:`on_focus_next`) change the focus and turn the
offer's buttons into a short line saying what happened; *Choose another* opens this form.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.focus import WHY_MAX_CHARS, keep_focus, save_why, set_focus, suggest_focus, their_why
from bot.home import home_view
from bot.messages import blocks as kit
from bot.messages.digest import BLOCK_FOCUS_OFFER
from bot.messages.prompts import PRACTICE_ORDER, load_prompts
from bot.reflections import written
from bot.replies import reply
from bot.services import Services

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class WhyForm:
    """A valid submission: the words, and the practice picked (None: suggest one)."""

    text: str
    focus: str | None


def form_view(services: Services, *, team_id: str, user_id: str) -> dict[str, Any]:
    """The modal, filled with what the person wrote before (if anything)."""
    prompts = load_prompts()
    why = their_why(services, team_id=team_id, user_id=user_id)
    text = why.text if why is not None and why.text else ""
    return kit.build_why_form(
        prompts,
        text=text,
        focus=why.focus if why is not None and not why.suggested else None,
        suggestion=suggest_focus(prompts, text) if text else None,
    )


def read_form(values: Mapping[str, Any]) -> tuple[WhyForm | None, dict[str, str]]:
    """The submission, or errors by block id (pure: nothing is read or written before the
    listener acks). The words are kept as written, trimmed, without the characters no
    database can hold (``bot.reflections.written``); empty or too long is an error on the
    text field that says what to do."""
    prompts = load_prompts()
    raw = ((values.get(kit.BLOCK_WHY) or {}).get(kit.INPUT_WHY) or {}).get("value") or ""
    text = written(str(raw), from_slack_message=False)
    if not text:
        return None, {kit.BLOCK_WHY: prompts.text("why.empty")}
    if len(text) > WHY_MAX_CHARS:
        error = prompts.text("why.too_long", count=len(text), limit=WHY_MAX_CHARS)
        return None, {kit.BLOCK_WHY: error}
    chosen = (
        ((values.get(kit.BLOCK_FOCUS) or {}).get(kit.INPUT_FOCUS) or {}).get("selected_option")
        or {}
    ).get("value")
    return WhyForm(text=text, focus=chosen if chosen in PRACTICE_ORDER else None), {}


def form_errors(view: Mapping[str, Any]) -> dict[str, str]:
    """What is wrong with a submitted why form, by block id (pure: it runs before the ack;
    any error keeps the form open)."""
    return read_form(view["state"]["values"])[1]


def on_form(
    services: Services, *, team_id: str, user_id: str, view: Mapping[str, Any]
) -> dict[str, Any]:
    """The why form was submitted (and passed :func:`form_errors`): :func:`submit` it,
    once per submitted view. Returns the Home tab to publish."""
    form, errors = read_form(view["state"]["values"])
    if form is None:
        raise ValueError(f"a why form with errors was submitted: {sorted(errors)}")
    submission = str(view.get("id") or view.get("hash") or "")
    return submit(services, team_id=team_id, user_id=user_id, form=form, submission_id=submission)


def submit(
    services: Services, *, team_id: str, user_id: str, form: WhyForm, submission_id: str
) -> dict[str, Any]:
    """Store the why and the focus (suggested from the words unless picked), confirm it in
    the DM (once per submission), and return the Home tab to publish."""
    prompts = load_prompts()
    focus = form.focus or suggest_focus(prompts, form.text)
    suggested = form.focus is None
    save_why(
        services,
        team_id=team_id,
        user_id=user_id,
        text=form.text,
        focus=focus,
        suggested=suggested,
    )
    # Never the words: only that they were saved, and the practice.
    logger.info(
        "why saved for %s of %s (focus %s, suggested %s)", user_id, team_id, focus, suggested
    )
    name = prompts.text(f"focus.name.{focus}")
    reply(
        services,
        team_id=team_id,
        user_id=user_id,
        text=prompts.text("why.saved_suggested" if suggested else "why.saved", practice=name),
        key=f"why:{submission_id}",
    )
    return home_view(services, team_id=team_id, user_id=user_id)


# ------------------------------------------------------------------- the digest's offer


def on_focus_keep(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """ "Keep it" on the digest's offer (the button's value is the focus practice): it
    stays, as their own choice. Returns the digest's text and blocks for ``chat.update``,
    the offer's buttons turned into a line."""
    prompts = load_prompts()
    kept = keep_focus(
        services, team_id=team_id, user_id=user_id, practice=str(action.get("value") or "")
    )
    note = (
        prompts.text("focus.kept", practice=prompts.text(f"focus.name.{kept}"))
        if kept is not None
        else prompts.text("focus.none")
    )
    return _answered(message, note)


def on_focus_next(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """ "Move on" on the digest's offer (the button's value is the next practice): it
    becomes the focus from now. Returns the digest's text and blocks for ``chat.update``."""
    prompts = load_prompts()
    practice = str(action.get("value") or "")
    if practice not in PRACTICE_ORDER:
        raise ValueError("a focus offer named no practice")
    moved = set_focus(services, team_id=team_id, user_id=user_id, practice=practice)
    logger.info("focus moved on for %s of %s (to %s)", user_id, team_id, practice)
    note = (
        prompts.text("focus.moved", practice=prompts.text(f"focus.name.{practice}"))
        if moved
        else prompts.text("focus.none")
    )
    return _answered(message, note)


def _answered(message: Mapping[str, Any], note: str) -> tuple[str, list[dict[str, Any]]]:
    blocks = kit.replace_actions(list(message.get("blocks") or []), BLOCK_FOCUS_OFFER, note)
    return str(message.get("text") or note), blocks
