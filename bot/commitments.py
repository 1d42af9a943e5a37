"""Commitments: what a person said they mean to do next time comes back when it matters.

**Finding one.** An answer states an intention when a sentence of it holds one of the
phrases of ``prompts/commitments.toml`` (:func:`commitment_sentence`: the sentence, not the
whole answer). Only answers about a meeting with other people, or of a series, can hold one
worth bringing back: there is someone to meet again.

**The offer.** A kept answer (a reply, a DM or the form's text) that holds one keeps its
acknowledgement (the reaction, or the line) and gets, in the thread of the question, a short
message: a lead line rotated per person (``commitment.offer.*``, six wordings, so none comes
more than three times in a week of up to eighteen offers), their sentence quoted, and one
button, *Bring this back before my next meeting with them*. It is an outbox delivery (kind
``commitment_offer``) keyed by the answer (``offer:<reflection id>``), so a retried event,
a replayed one or a second form submission for the same question cannot offer twice; it is
composed at send time from the stored answer (the payload holds no words of theirs), and
not sent if the answer was deleted meanwhile. An edit that adds an intention is not offered
(the answer was acknowledged already).

**Accepting** stores a commitment (``commitment`` table): the sentence, encrypted at rest
like the answer, the meeting's series key and its other people as the occurrence keeps them
(lower-case addresses, for meetings of up to ``SMALL_MEETING_MAX`` people), and when. One per
answer. The offer's button becomes a short line (``commitment.accepted.*``, rotated).

**Coming back.** The next reminder (or transition) within ``WINDOW`` (30 days) of accepting,
for a meeting of the same series or with any of those people, quotes it: "Last time you
said: …" (:func:`quote_in_reminder`). One per reminder, the most recently accepted. The
occurrence it was quoted for is recorded: composing the same reminder again (a retry) quotes
it again; another meeting does not, unless the answer about it was *not yet*. The rule is
``bot.comeback``'s, the one the planner follows too (below).

**Asking.** The reflection question about that meeting (alone or in a transition) carries
*Did you do it?*: *yes* closes it as kept, *partly* closes it as partly kept, *not yet*
leaves it open and free to come back at the next matching meeting within the 30 days. The
tap turns the buttons into a short rotated line (``done.tapped.*``).

**Decisions.** The digest counts as kept only *yes* (and *Did it* on the Home tab), in the
week the person said so (``commitments_kept`` in its metadata too); *partly* closes the
commitment without counting it as kept (it is in the export as ``partly``). The planner
ranks the meeting where an open commitment will come back (``bot.planner.comebacks``, by
``bot.comeback``'s rule) ahead of every other meeting of its day, for its reminder and its
question, so the daily caps (2 questions by default) do not drop the check-in after it;
accepting, quoting, closing (*yes*, *partly*, *Did it*, *Drop*) and *not yet* re-plan the
person, so the plan follows. When no question follows that meeting all the same (the
back-off after unanswered ones, the person's hours, a meeting moved or muted), the
commitment stays open on the Home tab, with *Did it* and *Drop*, and does not come back at
another meeting. The Home tab lists every open commitment, also past the 30 days (when it
no longer comes back), so the person can close it.

Every commitment is in the person's export (decrypted) and goes with an erase, an uninstall
and the retention period of reflections (``bot.privacy``).
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from bot import comeback
from bot.calendars.occurrence import Occurrence
from bot.comeback import WINDOW
from bot.crypto import CipherError
from bot.messages import Message
from bot.messages import commitments as ckit
from bot.messages.blocks import replace_actions
from bot.messages.prompts import Prompts, load_prompts
from bot.occurrences import occurrence_from_row, replan_user
from bot.replies import TAPPED, rotated, rotated_id
from bot.sender import Skip
from bot.services import Services
from bot.storage import commitments as stored_commitments
from bot.storage import deliveries, occurrences, users
from bot.storage.commitments import DROPPED, KEPT, PARTLY
from bot.storage.db import read_only
from bot.storage.deliveries import ClaimedDelivery
from bot.storage.models import DeliveryKind
from bot.storage.reflections import find_answer

logger = logging.getLogger(__name__)

PATTERNS_FILE = "commitments.toml"
OFFER_LINES = "commitment.offer"  # commitment.offer.*
ACCEPTED_LINES = "commitment.accepted"  # commitment.accepted.*

_STRAIGHT = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "`": "'"})
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\u2026])\s+|\s*\n\s*")
_OPENERS = r"(?:(?:and|so|then|also|but)[\s,]+)?"


# ------------------------------------------------------------------------ the patterns


@dataclass(frozen=True)
class Patterns:
    """The phrases of ``prompts/commitments.toml``, compiled: ``anywhere`` matches in a
    sentence, ``opening`` only at its start."""

    anywhere: re.Pattern[str]
    opening: re.Pattern[str]


def _phrase(text: str) -> str:
    return r"\s+".join(re.escape(word) for word in text.lower().translate(_STRAIGHT).split())


def parse_patterns(text: str) -> Patterns:
    """The phrase lists of a commitments document (pure). Raises ``ValueError`` for a
    document without both lists, or an empty phrase."""
    document = tomllib.loads(text)
    lists = {}
    for name in ("anywhere", "opening"):
        phrases = (document.get(name) or {}).get("phrases")
        if not phrases or not all(isinstance(p, str) and p.strip() for p in phrases):
            raise ValueError(f"{PATTERNS_FILE}: [{name}] needs a list of phrases")
        # Longest first, so "next time i'll" wins over "i'll" (the match is the same sentence).
        lists[name] = "|".join(_phrase(p) for p in sorted(phrases, key=len, reverse=True))
    return Patterns(
        anywhere=re.compile(rf"(?<![\w'])(?:{lists['anywhere']})(?![\w'])"),
        opening=re.compile(rf"^[\W_]*{_OPENERS}(?:{lists['opening']})(?![\w'])"),
    )


@cache
def load_patterns() -> Patterns:
    """The phrases shipped in the ``prompts`` package (read once per process)."""
    return parse_patterns(resources.files("prompts").joinpath(PATTERNS_FILE).read_text("utf-8"))


def commitment_sentence(text: str, patterns: Patterns | None = None) -> str | None:
    """The first sentence of ``text`` that states an intention for next time (as they
    wrote it, trimmed), or None. A question is none (pure, but for reading the list once)."""
    patterns = patterns or load_patterns()
    for sentence in _SENTENCE_BREAK.split(text):
        sentence = sentence.strip()
        if not sentence or sentence.endswith("?"):
            continue
        plain = sentence.translate(_STRAIGHT).lower()
        if patterns.anywhere.search(plain) or patterns.opening.search(plain):
            return sentence
    return None


# ------------------------------------------------------------------------ the offer


def _meeting(conn: sa.Connection, *, team_id: str, user_id: str, key: str | None) -> Any:
    if not key:
        return None
    row = occurrences.by_key(conn=conn, team_id=team_id, user_id=user_id, key=key)
    return occurrence_from_row(row) if row is not None else None


def _with_others(meeting: Occurrence | None) -> bool:
    """A meeting there will be a next one of, with the same people: with others, or of a
    series."""
    return meeting is not None and (
        meeting.attendees > 1 or bool(meeting.people) or meeting.recurring
    )


def _words(services: Services, stored: str) -> str | None:
    """Their sentence in an answer as stored, or None (none, or no configured key opens it)."""
    try:
        return commitment_sentence(services.cipher.decrypt(stored or ""))
    except CipherError:
        return None


def offer(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    thread_ts: str | None,
    message_ts: str | None = None,
    delivery_id: int | None = None,
) -> bool:
    """A kept answer (the person's message ``message_ts``, or the form's answer to the
    question ``delivery_id``): queue the offer in ``thread_ts``'s thread when it states an
    intention about a meeting with others. False when there is nothing to offer, or it was
    offered before."""
    with read_only(services.engine) as conn:
        answer = find_answer(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            message_ts=message_ts,
            delivery_id=delivery_id,
        )
        if answer is None or _words(services, answer.text) is None:
            return False
        meeting = _meeting(conn, team_id=team_id, user_id=user_id, key=answer.occurrence_key)
    if not _with_others(meeting):
        return False
    payload: dict[str, Any] = {"reflection": answer.id}
    if thread_ts:
        payload["thread_ts"] = thread_ts
    now = services.clock.now()
    with services.engine.begin() as conn:
        added = deliveries.enqueue_now(
            conn=conn,
            team_id=team_id,
            user_id=user_id,
            kind=DeliveryKind.COMMITMENT_OFFER,
            ref=f"offer:{answer.id}",
            payload=payload,
            now=now,
        )
    services.wake_outbox()
    return added


class OfferComposer:
    """The offer, composed at send time from the answer as it is stored now."""

    def __init__(self, services: Services, prompts: Prompts | None = None) -> None:
        self.services = services
        self.prompts = prompts or load_prompts()

    def __call__(self, row: ClaimedDelivery) -> Message:
        reflection_id = int((row.payload or {}).get("reflection") or 0)
        with read_only(self.services.engine) as conn:
            answer = find_answer(
                conn=conn, team_id=row.team_id, user_id=row.user_id, reflection_id=reflection_id
            )
        if answer is None:  # deleted with its message, by its author
            raise Skip("answer_gone")
        words = _words(self.services, answer.text)
        if words is None:
            raise Skip("no_commitment")
        lead = rotated(
            self.services,
            team_id=row.team_id,
            user_id=row.user_id,
            family=OFFER_LINES,
            delivery_id=row.id,
        )
        return ckit.build_commitment_offer(
            self.prompts, lead=lead, words=words, reflection_id=answer.id
        )


def accept(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """*Bring this back* (``action``, as Slack sends it; its value is the answer's id):
    keep the commitment, once. Returns the offer's text and blocks, its button replaced by
    a short line, for ``chat.update``."""
    prompts = load_prompts()
    reflection_id = int(str(action.get("value") or "0"))
    now = services.clock.now()
    with services.engine.begin() as conn:
        answer = find_answer(
            conn=conn, team_id=team_id, user_id=user_id, reflection_id=reflection_id
        )
        words = _words(services, answer.text) if answer is not None else None
        if answer is None or words is None:
            note = prompts.text("commitment.accepted_gone")
        else:
            meeting = _meeting(conn, team_id=team_id, user_id=user_id, key=answer.occurrence_key)
            stored_commitments.add_commitment(
                conn=conn,
                team_id=team_id,
                user_id=user_id,
                reflection_id=answer.id,
                text=services.cipher.encrypt(words),
                occurrence_key=answer.occurrence_key,
                series_key=meeting.series_key if meeting else "",
                people=sorted(meeting.people) if meeting else [],
                now=now,
            )
    if answer is not None and words is not None:
        logger.info("a commitment was kept for a user of workspace %s", team_id)
        note = rotated(services, team_id=team_id, user_id=user_id, family=ACCEPTED_LINES)
        replan_user(services, team_id=team_id, user_id=user_id)  # its meeting ranks first
    blocks = replace_actions(list(message.get("blocks") or []), ckit.BLOCK_OFFER, note)
    return str(message.get("text") or note), blocks


# ------------------------------------------------------------------------ coming back


def _decrypt(services: Services, stored: str) -> str | None:
    try:
        return services.cipher.decrypt(stored or "") or None
    except CipherError:
        return None


def quote_in_reminder(
    services: Services, row: ClaimedDelivery, meeting: Occurrence, message: Message
) -> Message:
    """A reminder (delivery ``row``) for ``meeting``: with the open commitment that comes
    back at it (``bot.comeback``: made within ``WINDOW`` for its series or with any of its
    people; the one quoted for it before, else the newest), recorded as quoted for this
    meeting (see the module docstring). A commitment newly quoted re-plans the person, so
    the question after this meeting keeps its place (``bot.planner``)."""
    now = services.clock.now()
    with read_only(services.engine) as conn:
        rows = {
            item.id: item
            for item in stored_commitments.open_commitments(
                conn=conn, team_id=row.team_id, user_id=row.user_id, since=now - WINDOW
            )
        }
    candidates = comeback.preferred(
        (
            pending
            for pending in map(comeback.Pending.from_row, rows.values())
            if comeback.comes_back_at(pending, meeting, at=now)
        ),
        meeting,
    )
    for found in candidates:
        words = _decrypt(services, rows[found.id].text)
        if words is None:
            continue
        if found.quoted_for is None:
            with services.engine.begin() as conn:
                taken = stored_commitments.quote_for(
                    conn=conn, commitment_id=found.id, meeting_key=meeting.key, now=now
                )
            if not taken:  # another reminder took it meanwhile
                continue
            replan_user(services, team_id=row.team_id, user_id=row.user_id)
        return ckit.build_commitment_quote(load_prompts(), message, words=words)
    return message


def check_in_reflection(
    services: Services, row: ClaimedDelivery, meeting: Occurrence, message: Message
) -> Message:
    """A reflection question (delivery ``row``) about ``meeting``: with *Did you do it?*
    when a commitment was quoted before it and is still open."""
    with read_only(services.engine) as conn:
        found = stored_commitments.quoted_at_meeting(
            conn=conn, team_id=row.team_id, user_id=row.user_id, meeting_key=meeting.key
        )
    words = _decrypt(services, found.text) if found is not None else None
    if found is None or words is None:
        return message
    # Rotated, like every line that could otherwise come more than three times a week.
    question_id = rotated_id(
        services,
        team_id=row.team_id,
        user_id=row.user_id,
        family=ckit.CHECK_LINES,
        delivery_id=row.id,
    )
    return ckit.build_commitment_check(
        load_prompts(), message, commitment_id=found.id, words=words, question_id=question_id
    )


def on_check(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    action: Mapping[str, Any],
    message: Mapping[str, Any],
) -> tuple[str, list[dict[str, Any]]]:
    """A tap on *Did you do it?*: record the outcome (see the module docstring). Returns
    the question's text and blocks, the buttons replaced by a short line."""
    prompts = load_prompts()
    matched = ckit.ACTION_CHECK_PATTERN.match(str(action.get("action_id") or ""))
    outcome = matched.group(1) if matched else "not_yet"
    commitment_id = int(str(action.get("value") or "0"))
    now = services.clock.now()
    with services.engine.begin() as conn:
        if outcome == "not_yet":
            changed = stored_commitments.release_quote(
                conn=conn, commitment_id=commitment_id, team_id=team_id, user_id=user_id
            )
        else:
            changed = stored_commitments.close_commitment(
                conn=conn,
                commitment_id=commitment_id,
                team_id=team_id,
                user_id=user_id,
                state={"yes": KEPT, "partly": PARTLY}[outcome],
                now=now,
            )
    if changed:  # closed, or free to come back at another meeting: the plan follows
        replan_user(services, team_id=team_id, user_id=user_id)
    note = rotated(
        services,
        team_id=team_id,
        user_id=user_id,
        family=TAPPED,
        answer=prompts.text(f"button.commitment.{outcome}"),
    )
    blocks = replace_actions(list(message.get("blocks") or []), ckit.BLOCK_CHECK, note)
    return str(message.get("text") or note), blocks


# ------------------------------------------------------------------------ Home, digest


def close(services: Services, *, team_id: str, user_id: str, action: Mapping[str, Any]) -> bool:
    """*Did it* or *Drop* on the Home tab (``action`` as Slack sends it; its value is the
    commitment's id). False when it was not open."""
    state = KEPT if action.get("action_id") == ckit.ACTION_DONE else DROPPED
    with services.engine.begin() as conn:
        changed = stored_commitments.close_commitment(
            conn=conn,
            commitment_id=int(str(action.get("value") or "0")),
            team_id=team_id,
            user_id=user_id,
            state=state,
            now=services.clock.now(),
        )
    if changed:  # its meeting no longer ranks first (bot.planner)
        replan_user(services, team_id=team_id, user_id=user_id)
    return bool(changed)


def home_blocks(
    services: Services, prompts: Prompts, *, team_id: str, user_id: str
) -> list[dict[str, Any]]:
    """The Home tab's open commitments, newest first (nothing when there are none)."""
    with read_only(services.engine) as conn:
        found = stored_commitments.open_commitments(conn=conn, team_id=team_id, user_id=user_id)
        them = users.person(conn=conn, team_id=team_id, user_id=user_id)
    zone = ZoneInfo((them and them.tz) or "UTC")
    items = []
    for row in found[: ckit.MAX_HOME_COMMITMENTS]:
        words = _decrypt(services, row.text)
        if words is not None:
            local = row.accepted_at.astimezone(zone)
            items.append(ckit.HomeCommitment(row.id, words, f"{local:%A} {local.day} {local:%B}"))
    return ckit.build_commitments_home(prompts, items)


def kept_between(
    services: Services, spans: Sequence[tuple[str, str, datetime, datetime]]
) -> list[int]:
    """For each (team, user, start, until): how many commitments they said they kept in
    it. One query for all."""
    if not spans:
        return []
    with read_only(services.engine) as conn:
        rows = stored_commitments.kept_closings(
            conn=conn,
            team_ids={s[0] for s in spans},
            user_ids={s[1] for s in spans},
            since=min(s[2] for s in spans),
            until=max(s[3] for s in spans),
        )
    return [
        sum(1 for t, u, at in rows if (t, u) == (team, user) and start <= at < until)
        for team, user, start, until in spans
    ]


def add_to_digests(
    services: Services, prompts: Prompts, messages: dict[int, Any], targets: Mapping[int, Any]
) -> None:
    """The week's kept commitments into each digest of a batch (by delivery id; ``targets``
    are ``bot.digest.Target``). A digest skipped or deferred is left as it is."""
    ids = [i for i, target in targets.items() if isinstance(messages.get(i), Message)]
    spans = [
        (targets[i].team_id, targets[i].user_id, targets[i].start, targets[i].until) for i in ids
    ]
    for delivery_id, kept in zip(ids, kept_between(services, spans), strict=True):
        messages[delivery_id] = ckit.build_commitments_digest(
            prompts, messages[delivery_id], kept=kept
        )
