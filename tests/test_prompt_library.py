"""The practice library (cues, intentions, reflection questions, experiments) as shipped, and
how one wording is chosen for one user (``bot.messages.library``)."""

from __future__ import annotations

import difflib
import itertools
import re
import tomllib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from importlib import resources

import pytest

from bot.calendars.occurrence import MeetingKind
from bot.messages.library import (
    GROUPS,
    KINDS,
    PRACTICE_ORDER,
    SIZES,
    candidates,
    choose,
    fits,
    focus_lean,
    fresh,
    group_of,
    practices_for,
    primary_practice,
    rotate_practice,
)
from bot.messages.prompts import PRACTICES, Prompt, PromptError, Prompts, load_prompts

FILES = {
    "presence.toml": {"cue", "intention"},
    "reflection.toml": {"question"},
    "experiments.toml": {"experiment"},
}
LIMITS = {"cue": 90, "intention": 140, "question": 140, "experiment": 200}
# Mirrors the comment at the top of prompts/presence.toml and prompts/reflection.toml: asking
# how you come across does not fit a room of nine or more; it is asked one to one, afterwards.
NOT_SENSIBLE = frozenset({("ask-feedback", "large")})
SENSIBLE = frozenset(itertools.product(PRACTICE_ORDER, KINDS)) - NOT_SENSIBLE
AT_LEAST = 3
MIN_CUES = 12
HEADER = "Standup at 10:00"
WORDS_PER_MINUTE = 200
# A question opening with one of these can be answered "yes" and nothing more.
YES_NO_OPENERS = frozenset(
    {"am", "are", "can", "could", "did", "do", "does", "had", "has", "have", "is", "may"}
    | {"might", "shall", "should", "was", "were", "will", "would"}
)
# Guilt, streaks, and any hint that someone else reads the answers.
UNWELCOME = re.compile(
    r"\b(streaks?|in a row|should|must|failed|forgot|why didn't|will see|manager|admins?)\b",
    re.IGNORECASE,
)
NEAR_SAME = 0.8  # difflib ratio of the normalised texts
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def _text(prompt: Prompt) -> str:
    return prompt.variants[0]


def _normalised(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower().replace("'", "")).split())


def _library() -> list[Prompt]:
    return [prompt for prompt in load_prompts() if group_of(prompt) in GROUPS]


def _group(name: str) -> list[Prompt]:
    return [prompt for prompt in _library() if group_of(prompt) == name]


def _prompts(*entries: tuple[str, Iterable[str], Iterable[str]]) -> Prompts:
    """A small library: (id, practices, kinds) per entry."""
    return Prompts(
        {
            prompt_id: Prompt(
                id=prompt_id,
                variants=(f"words of {prompt_id}",),
                practices=tuple(practices),
                kinds=tuple(kinds),
            )
            for prompt_id, practices, kinds in entries
        }
    )


# --- The shipped library ---------------------------------------------------------------------


def test_each_file_holds_its_groups_with_one_wording_per_table() -> None:
    folder = resources.files("prompts")
    for name, groups in FILES.items():
        document = tomllib.loads(folder.joinpath(name).read_text(encoding="utf-8"))
        assert set(document) <= groups, name
        for group, tables in document.items():
            assert tables, f"{name} has an empty [{group}]"
            for slug, table in tables.items():
                where = f"{name} [{group}.{slug}]"
                assert isinstance(table.get("text"), str), f"{where} needs text"
                assert "variants" not in table, f"{where}: one wording per table"
                assert set(table) <= {"text", "practices", "kinds"}, f"{where}: {set(table)}"


def test_every_wording_names_known_practices_and_kinds() -> None:
    problems = []
    for prompt in _library():
        group, practices, kinds = group_of(prompt), prompt.practices, prompt.kinds
        if not 1 <= len(practices) <= 2 or len(set(practices)) != len(practices):
            problems.append(f"{prompt.id}: one primary practice, at most one more: {practices}")
        if not set(practices) <= set(PRACTICE_ORDER):
            problems.append(f"{prompt.id}: unknown practice in {practices}")
        if not set(kinds) <= set(KINDS) or len(set(kinds)) != len(kinds):
            problems.append(f"{prompt.id}: unknown or repeated kind in {kinds}")
        if prompt.extra:
            problems.append(f"{prompt.id}: unknown keys {sorted(prompt.extra)}")
        if group == "cue" and (practices != ("be-present",) or set(kinds) != set(SIZES)):
            problems.append(f"{prompt.id}: a cue is be-present and fits all four kinds")
        if group in {"intention", "question"} and not kinds:
            problems.append(f"{prompt.id}: name the kinds it fits")
    assert problems == []
    assert set(PRACTICE_ORDER) == PRACTICES - {"general"}


def test_library_kinds_are_the_meeting_kinds_plus_recurring() -> None:
    assert set(SIZES) == {kind.value for kind in MeetingKind}
    assert KINDS[:-1] == SIZES
    assert KINDS[-1] == "recurring"


def test_lengths_placeholders_and_plain_text() -> None:
    problems = []
    for prompt in _library():
        text, limit = _text(prompt), LIMITS[group_of(prompt)]
        if len(text) > limit:
            problems.append(f"{prompt.id}: {len(text)} characters, limit {limit}")
        if prompt.placeholders() or "{" in text or "}" in text:
            problems.append(f"{prompt.id}: placeholders belong to the message builders")
        if text != text.strip() or "  " in text or text[-1] not in ".?!'":
            problems.append(f"{prompt.id}: stray spaces or no closing punctuation")
        if unwelcome := UNWELCOME.search(text):
            problems.append(f"{prompt.id}: {unwelcome.group(0)!r}")
    assert problems == []


def test_questions_are_open() -> None:
    for prompt in _group("question"):
        text = _text(prompt)
        assert text.endswith("?"), prompt.id
        first = text.split()[0].lower().strip(",")
        assert first not in YES_NO_OPENERS, f"{prompt.id} can be answered yes or no"


def test_no_wording_repeats_or_nearly_repeats_another() -> None:
    library = _library()
    seen: dict[str, str] = {}
    for prompt in load_prompts():  # the whole library: home, calendar ... too
        for text in prompt.variants:
            key = _normalised(text)
            assert key not in seen, f"{prompt.id} repeats {seen[key]}"
            seen[key] = prompt.id
    near = []
    for a, b in itertools.combinations(library, 2):
        matcher = difflib.SequenceMatcher(None, _normalised(_text(a)), _normalised(_text(b)))
        if matcher.quick_ratio() >= NEAR_SAME and matcher.ratio() >= NEAR_SAME:
            near.append(f"{a.id} ~ {b.id}")
    assert near == []


def test_enough_cues() -> None:
    assert len(_group("cue")) >= MIN_CUES


# --- Wording fits the meeting: a 1:1 is not a room, a room is not one person ----------------
#
# A wording that can reach a 1:1 (tagged "one-on-one" or "external", or with no size at all,
# as ["recurring"] alone fits a weekly 1:1 too) must not speak of a group; one that can reach
# a group (tagged "small", "large" or "external", or with no size) must not assume one
# person. An external meeting may be a call with one client or with five, so a wording tagged
# "external" must read right in both. "they", "them" and "their" are the neutral words: they
# name one person or many, so they are on neither list; nor is "someone" ("what someone
# said" reads right of the one other person too).
GROUP_WORDS = (
    "the room",
    "everyone",
    "everybody",
    "who leans in",
    "the group",
    "people",
    "others",
    "anyone",
    "each person",
    "around the table",
    "all of you",
)
ONE_PERSON_WORDS = (
    "the other person",
    "the person you",
    "your counterpart",
    "both of you",
    "the two of you",
    "one to one",
    "one-to-one",
    "one-on-one",
    "1:1",
    "he",
    "she",
    "him",
    "her",
    "his",
    "hers",
)
REACHES_ONE = frozenset({"one-on-one", "external"})
REACHES_GROUP = frozenset({"small", "large", "external"})


def _said(words: Iterable[str], text: str) -> list[str]:
    return [
        word
        for word in words
        if re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", text, re.IGNORECASE)
    ]


def _misfits(prompt: Prompt) -> list[str]:
    """What in a cue, intention or question does not fit a meeting its kinds let it reach."""
    sizes = set(prompt.kinds) - {"recurring"}
    problems = []
    for text in prompt.variants:
        if not sizes or sizes & REACHES_ONE:
            problems += [
                f"{prompt.id} can reach a 1:1 and says {w!r}" for w in _said(GROUP_WORDS, text)
            ]
        if not sizes or sizes & REACHES_GROUP:
            problems += [
                f"{prompt.id} can reach a group and says {w!r}"
                for w in _said(ONE_PERSON_WORDS, text)
            ]
    return problems


def test_the_check_catches_a_group_in_a_one_on_one_and_one_person_in_a_group() -> None:
    def prompt(kinds: list[str], text: str) -> Prompt:
        return Prompt(
            id="intention.x", variants=(text,), practices=("be-present",), kinds=tuple(kinds)
        )

    assert _misfits(prompt(["one-on-one"], "Notice who leans in.")) != []
    assert _misfits(prompt(["one-on-one"], "Read the room before you speak.")) != []
    assert _misfits(prompt(["recurring"], "Check that everyone is with you.")) != []  # a weekly 1:1
    assert _misfits(prompt(["external"], "Let people finish.")) != []  # a call with one client
    assert _misfits(prompt(["small"], "Ask the other person what they need.")) != []
    assert _misfits(prompt(["large"], "Watch her face when you answer.")) != []
    assert _misfits(prompt(["external"], "Check the other person is with you.")) != []
    # What fits where it goes, and the neutral words anywhere.
    assert _misfits(prompt(["small", "large"], "Notice who leans in and who goes still.")) == []
    assert _misfits(prompt(["one-on-one"], "Ask the other person what they need.")) == []
    assert _misfits(prompt(list(SIZES), "Let them finish before you answer.")) == []
    assert _misfits(prompt(list(SIZES), "Heed what someone said, then ask.")) == []
    assert _misfits(prompt(["small"], "Hear the whole answer, then ask where it leads.")) == []


def test_wording_fits_the_meeting() -> None:
    problems = [
        problem
        for prompt in _library()
        if group_of(prompt) in ("cue", "intention", "question")
        for problem in _misfits(prompt)
    ]
    assert problems == []


@pytest.mark.parametrize("group", ["intention", "question"])
def test_every_sensible_practice_and_kind_has_three_wordings(group: str) -> None:
    prompts = load_prompts()
    short = []
    for practice, kind in sorted(SENSIBLE):
        if kind == "recurring":  # written for recurring meetings
            found = [
                prompt
                for prompt in _group(group)
                if primary_practice(prompt) == practice and "recurring" in prompt.kinds
            ]
        else:  # what a one-off meeting of this kind can get
            found = [
                prompt
                for prompt in candidates(prompts, group, kind=kind, recurring=False)
                if primary_practice(prompt) == practice
            ]
        if len(found) < AT_LEAST:
            short.append(f"{practice} x {kind}: {len(found)}")
    assert short == []
    for practice, kind in NOT_SENSIBLE:
        for recurring in (False, True):
            assert (
                candidates(prompts, group, kind=kind, recurring=recurring, practice=practice) == []
            )


def test_every_practice_has_three_experiments() -> None:
    counts = {practice: 0 for practice in PRACTICE_ORDER}
    for prompt in _group("experiment"):
        counts[primary_practice(prompt)] += 1
    assert {p: n for p, n in counts.items() if n < AT_LEAST} == {}


def test_a_reminder_reads_in_under_ten_seconds() -> None:
    def seconds(*texts: str) -> float:
        return sum(len(text.split()) for text in texts) / WORDS_PER_MINUTE * 60

    worst = max(
        itertools.product(_group("cue"), _group("intention")),
        key=lambda pair: seconds(HEADER, _text(pair[0]), _text(pair[1])),
    )
    cue, intention = worst
    assert seconds(HEADER, _text(cue), _text(intention)) <= 10, (cue.id, intention.id)


# --- Fitting a wording to a meeting -----------------------------------------------------------


def test_fits_sizes_and_recurring() -> None:
    library = _prompts(
        ("intention.any", ["be-present"], []),
        ("intention.one", ["be-present"], ["one-on-one"]),
        ("intention.stand_up", ["be-present"], ["recurring"]),
        ("intention.weekly_one", ["be-present"], ["one-on-one", "recurring"]),
    )
    any_, one, stand_up, weekly_one = library
    assert fits(any_, kind="large", recurring=False)
    assert fits(one, kind=MeetingKind.ONE_ON_ONE, recurring=False)
    assert fits(one, kind="one-on-one", recurring=True)  # a recurring 1:1 is still a 1:1
    assert not fits(one, kind="small", recurring=False)
    assert fits(stand_up, kind="large", recurring=True)
    assert not fits(stand_up, kind="small", recurring=False)
    assert fits(weekly_one, kind="one-on-one", recurring=True)
    assert not fits(weekly_one, kind="one-on-one", recurring=False)
    assert not fits(weekly_one, kind="small", recurring=True)
    ids = [p.id for p in candidates(library, "intention", kind="one-on-one", recurring=True)]
    assert ids == ["intention.any", "intention.one", "intention.stand_up", "intention.weekly_one"]
    assert [p.id for p in candidates(library, "intention")] == ["intention.any", "intention.one"]


def test_practices_for_a_large_meeting_leave_out_asking_for_feedback() -> None:
    prompts = load_prompts()
    assert practices_for(prompts, "question", kind="one-on-one", recurring=False) == PRACTICE_ORDER
    large = practices_for(prompts, "question", kind="large", recurring=True)
    assert large == tuple(p for p in PRACTICE_ORDER if p != "ask-feedback")


# --- Choosing: no repeats, stable, spread ---------------------------------------------------


def test_no_wording_repeats_within_fourteen_days_while_others_remain() -> None:
    prompts = load_prompts()
    pool = {p.id for p in candidates(prompts, "intention", kind="one-on-one", recurring=False)}
    shown: dict[str, datetime] = {}
    picks = []
    for i in range(60):  # 60 one-on-ones spread over 14 days
        now = START + timedelta(days=14) * i / 60
        prompt = choose(
            prompts,
            "intention",
            kind="one-on-one",
            recurring=False,
            shown=shown,
            now=now,
            salt=f"ics:work|1on1-{i}|",
        )
        picks.append(prompt.id)
        shown[prompt.id] = now
    assert set(picks) <= pool
    first_round = picks[: len(pool)]
    assert len(set(first_round)) == len(first_round), "a wording came back too soon"
    # Once every wording was seen, the one seen longest ago comes back first.
    for i in range(len(pool), len(picks)):
        assert picks[i] == picks[i - len(pool)]


def test_the_same_meeting_gets_the_same_wording() -> None:
    prompts = load_prompts()
    shown = {"intention.phone_face_down": START - timedelta(days=2)}
    reordered = Prompts({p.id: p for p in reversed(list(prompts))})

    def pick(library: Prompts) -> str:
        return choose(
            library,
            "intention",
            kind="small",
            recurring=True,
            shown=shown,
            now=START,
            salt="ics:work|standup|2026-03-02T09:00:00+00:00",
        ).id

    assert pick(prompts) == pick(prompts) == pick(reordered)


def test_different_meetings_spread_over_the_wordings() -> None:
    prompts = load_prompts()
    picks = [
        choose(
            prompts,
            "cue",
            kind="one-on-one",
            recurring=False,
            shown={},
            now=START,
            salt=f"ics:work|meeting-{i}|",
        ).id
        for i in range(40)
    ]
    assert len(set(picks)) >= len(_group("cue")) // 2


def test_choose_prefers_never_then_long_ago_then_least_recent() -> None:
    library = _prompts(
        ("cue.a", ["be-present"], []),
        ("cue.b", ["be-present"], []),
        ("cue.c", ["be-present"], []),
    )

    def pick(shown: dict[str, datetime]) -> str:
        return choose(
            library, "cue", kind="small", recurring=False, shown=shown, now=START, salt="s"
        ).id

    def days(n: int) -> datetime:
        return START - timedelta(days=n)

    assert pick({"cue.a": days(30), "cue.b": days(1)}) == "cue.c"
    assert pick({"cue.a": days(30), "cue.b": days(1), "cue.c": days(2)}) == "cue.a"
    assert pick({"cue.a": days(3), "cue.b": days(1), "cue.c": days(2)}) == "cue.a"
    assert pick({"cue.a": days(1), "cue.b": days(3), "cue.c": days(2)}) == "cue.b"


# --- Rotating through the practices -----------------------------------------------------------


def test_rotation_visits_every_practice_before_repeating() -> None:
    prompts = load_prompts()
    history: list[str] = []
    for i in range(2 * len(PRACTICE_ORDER)):
        practice = rotate_practice(history, PRACTICE_ORDER)
        prompt = choose(
            prompts,
            "question",
            kind="one-on-one",
            recurring=False,
            shown={},
            now=START,
            salt=str(i),
            practice=practice,
        )
        assert practice in prompt.practices
        history.append(practice)
    first, second = history[: len(PRACTICE_ORDER)], history[len(PRACTICE_ORDER) :]
    assert sorted(first) == sorted(PRACTICE_ORDER)
    assert second == first


def test_rotation_picks_the_least_recently_used() -> None:
    available = ["feelings", "slow-down", "appreciation"]
    assert rotate_practice([], available) == "feelings"
    assert rotate_practice(["feelings", "slow-down"], available) == "appreciation"
    history = ["appreciation", "gone-practice", "slow-down", "feelings", "appreciation"]
    assert rotate_practice(history, available) == "slow-down"
    with pytest.raises(ValueError):
        rotate_practice(["feelings"], [])


# --- Falling back instead of failing ---------------------------------------------------------


def test_a_practice_with_no_fitting_wording_falls_back_to_the_kind() -> None:
    prompt = choose(
        load_prompts(),
        "intention",
        kind="large",
        recurring=False,
        shown={},
        now=START,
        salt="all-hands",
        practice="ask-feedback",
    )
    assert fits(prompt, kind="large", recurring=False)
    assert "ask-feedback" not in prompt.practices


def test_a_kind_with_no_wording_falls_back_to_wordings_for_every_kind() -> None:
    library = _prompts(
        ("intention.one", ["be-present"], ["one-on-one"]),
        ("intention.all", ["be-present"], list(SIZES)),
        ("intention.stand_up", ["be-present"], ["recurring"]),
        ("question.one", ["feelings"], ["one-on-one"]),
    )

    def pick(group: str, kind: str | None) -> str:
        return choose(library, group, kind=kind, recurring=False, shown={}, now=START, salt="s").id

    assert pick("intention", "large") == "intention.all"
    assert pick("intention", "town-hall") == "intention.all"
    # Nothing fits every kind either: any wording of the group rather than an error.
    assert pick("question", "large") == "question.one"
    with pytest.raises(PromptError, match="experiment"):
        pick("experiment", None)


def test_the_shipped_library_answers_any_meeting() -> None:
    prompts = load_prompts()
    for group, kind, recurring in itertools.product(GROUPS, (*SIZES, None), (False, True)):
        prompt = choose(
            prompts, group, kind=kind, recurring=recurring, shown={}, now=START, salt=group
        )
        assert group_of(prompt) == group


# --- Leaning toward a focus practice ---------------------------------------------------------


def _focus_library() -> Prompts:
    return _prompts(
        ("intention.thanks_a", ["appreciation"], ["one-on-one"]),
        ("intention.thanks_b", ["appreciation"], ["one-on-one"]),
        ("intention.listen", ["observe-listen-ask"], ["one-on-one"]),
        ("intention.listen_and_thank", ["observe-listen-ask", "appreciation"], ["one-on-one"]),
        ("intention.breathe", ["be-present"], ["one-on-one", "small"]),
    )


def _lean(
    library: Prompts,
    *,
    last: tuple[str, datetime] | None,
    shown: dict[str, datetime] | None = None,
    focus: str | None = "appreciation",
    since: datetime = START - timedelta(days=3),
    kind: str = "one-on-one",
    balance: tuple[int, int] = (0, 0),
) -> tuple[str | None, str | None]:
    return focus_lean(
        library,
        "intention",
        focus=focus,
        since=since,
        last=last,
        kind=kind,
        recurring=False,
        shown=shown or {},
        now=START,
        balance=balance,
    )


def test_every_other_wording_serves_the_focus() -> None:
    library = _focus_library()
    yesterday = START - timedelta(days=1)
    assert _lean(library, last=None, focus=None) == (None, None)  # no focus: as before
    assert _lean(library, last=None) == ("appreciation", None)  # the first one serves it
    # The last one served it: this one keeps clear of it, and the next serves it again.
    assert _lean(library, last=("intention.thanks_a", yesterday)) == (None, "appreciation")
    assert _lean(library, last=("intention.listen", yesterday)) == ("appreciation", None)
    # A secondary practice counts: that wording served the focus too.
    served = ("intention.listen_and_thank", yesterday)
    assert _lean(library, last=served) == (None, "appreciation")
    # What was shown before the focus was set does not count.
    before = ("intention.thanks_a", START - timedelta(days=4))
    assert _lean(library, last=before) == ("appreciation", None)
    # A wording no longer in the library does not count either.
    assert _lean(library, last=("intention.gone", yesterday)) == ("appreciation", None)


def test_a_sizes_first_turn_goes_to_the_focus_only_while_it_has_at_most_half() -> None:
    library = _focus_library()
    focus, others = ("appreciation", None), (None, "appreciation")
    assert _lean(library, last=None, balance=(0, 0)) == focus
    assert _lean(library, last=None, balance=(2, 4)) == focus  # half: the focus
    assert _lean(library, last=None, balance=(3, 5)) == others  # more than half
    assert _lean(library, last=None, balance=(1, 3)) == focus
    # Within a size, the last wording decides, whatever the balance.
    yesterday = START - timedelta(days=1)
    assert _lean(library, last=("intention.listen", yesterday), balance=(5, 6)) == focus
    assert _lean(library, last=("intention.thanks_a", yesterday), balance=(0, 6)) == others


def test_the_focus_passes_its_turn_rather_than_repeat_a_wording_or_misfit_the_meeting() -> None:
    library = _focus_library()
    recent = START - timedelta(days=13)
    every_thanks = {
        "intention.thanks_a": recent,
        "intention.thanks_b": recent,
        "intention.listen_and_thank": recent,
    }
    assert _lean(library, last=None, shown=every_thanks) == (None, "appreciation")
    long_ago = {**every_thanks, "intention.thanks_b": START - timedelta(days=14)}
    assert _lean(library, last=None, shown=long_ago) == ("appreciation", None)
    assert _lean(library, last=None, kind="small") == (None, "appreciation")  # none fits
    fitting = fresh(
        library,
        "intention",
        kind="one-on-one",
        recurring=False,
        practice="appreciation",
        shown=long_ago,
        now=START,
    )
    assert [p.id for p in fitting] == ["intention.thanks_b"]


def test_choose_keeps_clear_of_a_practice_among_equally_fresh_wordings() -> None:
    library = _focus_library()

    def pick(shown: dict[str, datetime], avoid: str | None) -> str:
        return choose(
            library,
            "intention",
            kind="one-on-one",
            recurring=False,
            shown=shown,
            now=START,
            salt="s",
            avoid_practice=avoid,
        ).id

    fresh_ids = {"intention.listen", "intention.breathe"}
    for salt_shown in ({}, {"intention.thanks_a": START - timedelta(days=30)}):
        assert pick(salt_shown, "appreciation") in fresh_ids
    # Freshness first: a fresh wording that serves it beats repeating one that does not.
    recent = START - timedelta(days=1)
    others_seen = {"intention.listen": recent, "intention.breathe": recent}
    assert pick(others_seen, "appreciation") in {
        "intention.thanks_a",
        "intention.thanks_b",
        "intention.listen_and_thank",
    }


def test_the_shipped_library_leans_toward_any_focus_in_any_meeting_it_fits() -> None:
    """For every practice and kind with a fitting wording, a first turn serves the focus."""
    prompts = load_prompts()
    for group in ("intention", "question"):
        for practice, kind in itertools.product(PRACTICE_ORDER, SIZES):
            got = focus_lean(
                prompts,
                group,
                focus=practice,
                since=START,
                last=None,
                kind=kind,
                recurring=False,
                shown={},
                now=START,
            )
            expected = (None, practice) if (practice, kind) in NOT_SENSIBLE else (practice, None)
            assert got == expected, (group, practice, kind)
