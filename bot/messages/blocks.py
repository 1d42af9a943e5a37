"""Pure Block Kit builders. Each returns a :class:`Message` or a view dict; the
words come from ``prompts/``; nothing here does I/O.

Blocks are plain dicts, built only through the small helpers below (``section``,
``context``, ``header``, ``_plain``, ``_button``, ``_actions``, ``_modal``), which clip
every text to the limit Slack documents for where it sits. Plain dicts rather than
``slack_sdk.models`` objects: Slack hands blocks back as dicts (a tapped message is updated
from ``body["message"]["blocks"]``), the digest and the sender pass them on as dicts, and a
model raises when a text is too long where a person would rather get the clipped message.
Every builder is checked against ``slack_sdk.models`` and Slack's documented limits by
``bot.emulator.blocks.validate_message`` / ``validate_view`` in the tests
(``tests/test_blocks.py``), and the emulator refuses what Slack would.

Each element of a block has its own ``action_id`` (Slack refuses a block with two equal
ones): the three presence buttons are ``reflect_tap_5``, ``reflect_tap_3`` and
``reflect_tap_1``, matched by :data:`ACTION_TAP_PATTERN`, which also matches the single
``reflect_tap`` of messages sent before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from bot.messages.message import Message
from bot.messages.mrkdwn import clip, clip_mrkdwn, escape, link, link_url, quote
from bot.messages.prompts import PRACTICE_ORDER, Prompts

# Slack's documented limits, in characters (Block Kit reference). A context element's
# text is a text object (3,000), but we keep it to 2,000 as older guidance and several
# validators do; the emulator checks the same numbers (bot/emulator/blocks.py).
MAX_SECTION = 3000
MAX_CONTEXT = 2000
MAX_HEADER = 150
MAX_BUTTON = 75
MAX_BUTTON_VALUE = 2000
MAX_LABEL = 2000
MAX_OPTION = 75
MAX_PLACEHOLDER = 150
MAX_MODAL_TITLE = 24
MAX_INPUT_VALUE = 3000  # a plain_text_input's initial_value
MAX_TITLE = 200  # a meeting title or a calendar name as shown, cut before escaping


def section(text: str) -> dict[str, Any]:
    """A mrkdwn section; ``text`` is already escaped mrkdwn (clipped safely)."""
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_SECTION)}}


def context(text: str) -> dict[str, Any]:
    """A context line of mrkdwn (clipped safely)."""
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": clip_mrkdwn(text, MAX_CONTEXT)}],
    }


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": _plain(text, MAX_HEADER)}


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": clip(text, limit)}


def title_text(title: str) -> str:
    """Someone else's words (a meeting title, a calendar name) as mrkdwn: cut, then
    escaped once."""
    return escape(clip(title, MAX_TITLE))


def _modal(
    prompts: Prompts,
    *,
    callback_id: str,
    title: str,
    submit: str,
    blocks: list[dict[str, Any]],
    metadata: str | None = None,
) -> dict[str, Any]:
    """A modal with Heedful's cancel button; titles and labels are prompt ids."""
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(prompts.text(title), MAX_MODAL_TITLE),
        "submit": _plain(prompts.text(submit), MAX_MODAL_TITLE),
        "close": _plain(prompts.text("form.cancel"), MAX_MODAL_TITLE),
        "blocks": blocks,
    }
    if metadata is not None:
        view["private_metadata"] = metadata
    return view


ACTION_HOME_PAUSE = "home_pause"
ACTION_HOME_RESUME = "home_resume"
ACTION_HOME_SETTINGS = "home_settings"
ACTION_HOME_CONNECT = "home_connect"
ACTION_HOME_REMOVE = "home_remove_calendar"
ACTION_HOME_GOOGLE = "home_connect_google"  # a link button: Slack still sends the tap
ACTION_HOME_MICROSOFT = "home_connect_microsoft"  # a link button too
ACTION_HOME_UNMUTE = "home_unmute"
ACTION_HOME_EXPORT = "home_export"
ACTION_HOME_ERASE = "home_erase"
VIEW_CONNECT = "connect_form"
VIEW_SETTINGS = "settings_form"
BLOCK_URL, INPUT_URL = "url", "url_value"
MAX_HOME_ITEMS = 8


@dataclass(frozen=True)
class WhyCard:
    """The person's why as the Home tab shows it."""

    text: str | None  # their words as they wrote them (None: no configured key opens them)
    practice: str  # the focus practice id
    since: str  # when it became the focus, in words
    suggested: bool  # suggested from their words rather than picked


@dataclass(frozen=True)
class HomeState:
    """Everything the Home tab shows, already in the user's words and zone."""

    zone: str | None
    connected: bool
    paused_until: str | None = None
    next_items: list[tuple[str, str, str]] = field(default_factory=list)  # when, kind, title
    settings: dict[str, str] = field(default_factory=dict)  # summary placeholders
    calendars: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, status
    # A fresh single-use Google sign-in link, when Google can be connected and is not.
    google_link: str | None = None
    # The same for Microsoft 365 (Outlook).
    microsoft_link: str | None = None
    muted: list[tuple[str, str]] = field(default_factory=list)  # series key, title
    why: WhyCard | None = None  # None: not written yet (the card invites them)


def build_home_view(prompts: Prompts, state: HomeState) -> dict[str, Any]:
    """The App Home tab: their why and focus, what comes next, settings, calendars, privacy,
    pause/export/erase."""
    blocks: list[dict[str, Any]] = [
        header(prompts.text("home.title")),
        section(prompts.text("home.intro")),
    ]
    if state.paused_until:
        blocks.append(section(prompts.text("home.paused", until=state.paused_until)))
    if not state.connected:
        blocks.append(section(prompts.text("home.not_connected")))
    blocks.append(
        _actions(
            "home_main",
            _button(
                prompts.text("button.home.connect"), ACTION_HOME_CONNECT, "connect", style="primary"
            ),
            _button(prompts.text("button.home.resume"), ACTION_HOME_RESUME, "resume")
            if state.paused_until
            else _button(prompts.text("button.home.pause"), ACTION_HOME_PAUSE, "pause"),
            _button(prompts.text("button.home.settings"), ACTION_HOME_SETTINGS, "settings"),
            *_google_button(prompts, state.google_link),
            *_microsoft_button(prompts, state.microsoft_link),
        )
    )
    blocks += [{"type": "divider"}, *_why_card(prompts, state.why)]
    if state.connected:
        blocks += [{"type": "divider"}, section(f"*{prompts.text('home.next_header')}*")]
        items = [
            prompts.text("home.next_item", when=when, what=what, title=title_text(title))
            for when, what, title in state.next_items[:MAX_HOME_ITEMS]
        ]
        blocks.append(section("\n".join(items) if items else prompts.text("home.next_none")))
    if state.settings:
        blocks += [
            {"type": "divider"},
            section(f"*{prompts.text('home.settings_header')}*"),
            context(prompts.text("home.settings_summary", **state.settings)),
        ]
    if state.calendars:
        blocks += [{"type": "divider"}, section(f"*{prompts.text('home.calendars_header')}*")]
        for source_id, name, status in state.calendars[:MAX_HOME_ITEMS]:
            blocks.append(
                {
                    **section(
                        prompts.text("home.calendar_item", name=title_text(name), status=status)
                    ),
                    "accessory": _button(
                        prompts.text("button.home.remove"), ACTION_HOME_REMOVE, str(source_id)
                    ),
                }
            )
    if state.muted:
        blocks += [{"type": "divider"}, section(f"*{prompts.text('home.muted_header')}*")]
        for series_key, title in state.muted[:MAX_HOME_ITEMS]:
            blocks.append(
                {
                    **section(title_text(title or series_key.split("|")[-1])),
                    "accessory": _button(
                        prompts.text("button.home.unmute"), ACTION_HOME_UNMUTE, series_key
                    ),
                }
            )
    blocks += [
        {"type": "divider"},
        context(prompts.text("home.how")),  # always here; with questions, the first few only
        context(prompts.text("home.privacy")),
        _actions(
            "home_data",
            _button(prompts.text("button.home.export"), ACTION_HOME_EXPORT, "export"),
            _button(prompts.text("button.home.erase"), ACTION_HOME_ERASE, "erase", style="danger"),
        ),
    ]
    if state.zone:
        blocks.append(context(prompts.text("home.zone", zone=state.zone)))
    return {"type": "home", "blocks": blocks}


def _google_button(prompts: Prompts, link: str | None) -> list[dict[str, Any]]:
    """ "Connect Google Calendar": a link button to a sign-in link, or nothing."""
    url = link_url(link)
    if url is None:
        return []
    return [
        {**_button(prompts.text("google.connect.button"), ACTION_HOME_GOOGLE, "google"), "url": url}
    ]


def _microsoft_button(prompts: Prompts, link: str | None) -> list[dict[str, Any]]:
    """ "Connect Outlook calendar": a link button to a sign-in link, or nothing."""
    url = link_url(link)
    if url is None:
        return []
    return [
        {
            **_button(prompts.text("microsoft.connect.button"), ACTION_HOME_MICROSOFT, "microsoft"),
            "url": url,
        }
    ]


def _why_card(prompts: Prompts, why: WhyCard | None) -> list[dict[str, Any]]:
    """The Home tab's "Your why": their words and focus with an edit button, or the
    invitation to write them."""
    heading = f"*{prompts.text('why.title')}*"
    if why is None:
        write = _button(prompts.text("button.why.write"), ACTION_WHY_OPEN, "home", style="primary")
        return [{**section(f"{heading}\n{prompts.text('home.why_none')}"), "accessory": write}]
    words = quote(why.text) if why.text is not None else prompts.text("home.why_unreadable")
    edit = _button(prompts.text("button.why.edit"), ACTION_WHY_OPEN, "home")
    focus = prompts.text(
        "home.focus_suggested" if why.suggested else "home.focus",
        practice=escape(prompts.text(f"focus.name.{why.practice}")),
        since=why.since,
    )
    return [{**section(f"{heading}\n{words}"), "accessory": edit}, context(focus)]


def build_connect_form(prompts: Prompts) -> dict[str, Any]:
    return _modal(
        prompts,
        callback_id=VIEW_CONNECT,
        title="connect.title",
        submit="connect.submit",
        blocks=[
            {
                "type": "input",
                "block_id": BLOCK_URL,
                "label": _plain(prompts.text("connect.label"), MAX_LABEL),
                "hint": _plain(prompts.text("connect.hint"), MAX_LABEL),
                "element": {"type": "url_text_input", "action_id": INPUT_URL},
            }
        ],
    )


SETTING_CHOICES = {
    "lead_minutes": (1, 2, 3, 5, 10, 15, 20, 30),
    "reflection_delay_minutes": (0, 1, 2, 5, 10, 15, 30, 60),
    "max_reflections_per_day": (0, 1, 2, 3, 4),
}


def build_settings_form(prompts: Prompts, current: dict[str, Any]) -> dict[str, Any]:
    """The settings modal, filled with the current values (``Prefs.to_json()``)."""

    def choice(n: int) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)}

    def day(n: int) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": prompts.text(f"day.{n}")}, "value": str(n)}

    def select(
        block: str, label: str, options: list[dict[str, Any]], initial: int
    ) -> dict[str, Any]:
        chosen = next((o for o in options if o["value"] == str(initial)), options[0])
        return {
            "type": "input",
            "block_id": block,
            "label": {"type": "plain_text", "text": prompts.text(label)},
            "element": {
                "type": "static_select",
                "action_id": "value",
                "options": options,
                "initial_option": chosen,
            },
        }

    def clock(block: str, label: str, initial: str) -> dict[str, Any]:
        return {
            "type": "input",
            "block_id": block,
            "label": {"type": "plain_text", "text": prompts.text(label)},
            "element": {"type": "timepicker", "action_id": "value", "initial_time": initial},
        }

    days = [day(n) for n in range(7)]
    working = [o for o in days if int(o["value"]) in current["working_days"]]
    lead = [choice(n) for n in SETTING_CHOICES["lead_minutes"]]
    delay = [choice(n) for n in SETTING_CHOICES["reflection_delay_minutes"]]
    questions = select(
        "max_reflections_per_day",
        "settings.questions",
        [choice(n) for n in SETTING_CHOICES["max_reflections_per_day"]],
        current["max_reflections_per_day"],
    )
    questions["hint"] = {"type": "plain_text", "text": prompts.text("settings.questions_hint")}
    days_block: dict[str, Any] = {
        "type": "input",
        "block_id": "working_days",
        "label": {"type": "plain_text", "text": prompts.text("settings.days")},
        "element": {"type": "checkboxes", "action_id": "value", "options": days},
    }
    if working:
        days_block["element"]["initial_options"] = working
    # A timepicker cannot show 24:00: midnight, as the end of the day, is its 00:00.
    day_end = clock(
        "quiet_end",
        "settings.quiet_end",
        "00:00" if current["quiet_end"] == "24:00" else current["quiet_end"],
    )
    day_end["hint"] = {"type": "plain_text", "text": prompts.text("settings.quiet_end_hint")}
    return _modal(
        prompts,
        callback_id=VIEW_SETTINGS,
        title="settings.title",
        submit="form.submit",
        blocks=[
            select("lead_minutes", "settings.lead", lead, current["lead_minutes"]),
            select(
                "reflection_delay_minutes",
                "settings.delay",
                delay,
                current["reflection_delay_minutes"],
            ),
            questions,
            clock("quiet_start", "settings.quiet_start", current["quiet_start"]),
            day_end,
            days_block,
            select("digest_weekday", "settings.digest_day", days, current["digest_weekday"]),
            clock("digest_time", "settings.digest_time", current["digest_time"]),
        ],
    )


# ----------------------------------------------------------------------------- nudges

ACTION_SKIP = "nudge_skip"
ACTION_MUTE = "nudge_mute"
ACTION_PAUSE = "nudge_pause"
ACTION_WRITE = "reflect_write"
ACTION_TAP = "reflect_tap"  # + "_<presence>"; value: "<delivery id>:<presence 1-5>"
# One listener for every presence button, and for the single id of messages sent before.
ACTION_TAP_PATTERN = re.compile(rf"^{ACTION_TAP}(_[1-5])?$")
VIEW_REFLECTION = "reflection_form"
VIEW_PAUSE = "pause_form"
BLOCK_PRESENCE, INPUT_PRESENCE = "presence", "presence_value"
BLOCK_TEXT, INPUT_TEXT = "text", "text_value"
BLOCK_UNTIL, INPUT_UNTIL = "until", "until_value"
REFLECTION_MAX_CHARS = 2000
TAPS = (("button.present", 5), ("button.partly", 3), ("button.elsewhere", 1))


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(text, MAX_BUTTON),
        "action_id": action_id,
        "value": value[:MAX_BUTTON_VALUE],
    }
    if style:
        button["style"] = style
    return button


def _actions(block_id: str, *elements: dict[str, Any]) -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def _nudge_buttons(prompts: Prompts, *, delivery_id: int, series_key: str) -> dict[str, Any]:
    return _actions(
        "nudge",
        _button(prompts.text("button.skip"), ACTION_SKIP, str(delivery_id)),
        _button(prompts.text("button.mute"), ACTION_MUTE, series_key),
        _button(prompts.text("button.pause"), ACTION_PAUSE, str(delivery_id)),
    )


def tap_action(presence: int) -> str:
    """The ``action_id`` of one presence button (unique within its block)."""
    return f"{ACTION_TAP}_{presence}"


def _join(prompts: Prompts, join_url: str | None) -> list[dict[str, Any]]:
    """The "Join the call" line, only for a well-formed http(s) link (else nothing)."""
    joined = link(join_url, prompts.text("reminder.join"))
    return [context(joined)] if joined else []


def _tap_buttons(prompts: Prompts, *, delivery_id: int) -> dict[str, Any]:
    taps = [
        _button(prompts.text(prompt_id), tap_action(presence), f"{delivery_id}:{presence}")
        for prompt_id, presence in TAPS
    ]
    write = _button(prompts.text("button.write"), ACTION_WRITE, str(delivery_id), style="primary")
    return _actions("reflect", *taps, write)


def build_reminder(
    prompts: Prompts,
    *,
    delivery_id: int,
    title: str,
    time: str,
    cue: str,
    intention: str,
    join_url: str | None,
    series_key: str,
) -> Message:
    """The presence reminder: meeting and local time, one breath, one intention."""
    title = title_text(title)
    blocks = [
        section(f"*{prompts.text('reminder.header', title=title, time=time)}*"),
        section(f":wind_blowing_face: {cue}\n:ear: {intention}"),
        *_join(prompts, join_url),
    ]
    blocks.append(_nudge_buttons(prompts, delivery_id=delivery_id, series_key=series_key))
    text = prompts.text("reminder.fallback", title=title, time=time, cue=cue, intention=intention)
    return Message(text=text, blocks=blocks)


def build_transition(
    prompts: Prompts,
    *,
    delivery_id: int,
    previous: str,
    question: str,
    title: str,
    time: str,
    cue: str,
    intention: str,
    join_url: str | None,
    series_key: str,
    guide: bool = True,
) -> Message:
    """Back-to-back meetings: one message that reflects on one and prepares the next.
    ``guide``: with how to answer and who can read it (a person's first questions)."""
    previous, title = title_text(previous), title_text(title)
    blocks = [
        section(
            f"*{prompts.text('transition.header', previous=previous, title=title, time=time)}*"
        ),
        section(f":thought_balloon: {prompts.text('transition.reflect', question=question)}"),
        *_guide(prompts, guide),
        _tap_buttons(prompts, delivery_id=delivery_id),
        {"type": "divider"},
        section(f":wind_blowing_face: {cue}\n:ear: {intention}"),
        *_join(prompts, join_url),
    ]
    blocks.append(_nudge_buttons(prompts, delivery_id=delivery_id, series_key=series_key))
    text = prompts.text(
        "transition.fallback",
        previous=previous,
        question=question,
        title=title,
        time=time,
        cue=cue,
        intention=intention,
    )
    return Message(text=text, blocks=blocks)


def build_reflection(
    prompts: Prompts,
    *,
    delivery_id: int,
    title: str,
    question: str,
    series_key: str,
    guide: bool = True,
) -> Message:
    """One question about how the user showed up, answered by a reply or a tap.
    ``guide``: with how to answer and who can read it (a person's first questions)."""
    title = title_text(title)
    blocks = [
        section(f"*{prompts.text('reflection.header', title=title)}*\n{question}"),
        *_guide(prompts, guide),
        _tap_buttons(prompts, delivery_id=delivery_id),
    ]
    text = prompts.text("reflection.fallback", title=title, question=question)
    if guide:
        text = f"{text} {prompts.text('reflection.how')}"
    del series_key  # reflections carry no mute button: the reminder has one
    return Message(text=text, blocks=blocks)


def _guide(prompts: Prompts, guide: bool) -> list[dict[str, Any]]:
    """How to answer and who can read it: shown with a person's first questions only
    (always in ``/heedful help`` and the Home tab), so it does not become boilerplate."""
    if not guide:
        return []
    return [context(f"{prompts.text('reflection.how')} {prompts.text('form.private')}")]


def build_done(text: str) -> Message:
    """What a nudge turns into once acted on (its buttons gone)."""
    return Message(text=text, blocks=[context(escape(text))])


def build_reflection_form(prompts: Prompts, *, delivery_id: int, question: str) -> dict[str, Any]:
    """The modal behind "Write a line": an optional 1–5 and a line of text."""
    options = [
        {"text": {"type": "plain_text", "text": str(n)}, "value": str(n)} for n in range(1, 6)
    ]
    return _modal(
        prompts,
        callback_id=VIEW_REFLECTION,
        title="form.title",
        submit="form.submit",
        metadata=str(delivery_id),
        blocks=[
            *([section(question)] if question else []),  # a section may not be empty
            {
                "type": "input",
                "block_id": BLOCK_PRESENCE,
                "optional": True,
                "label": _plain(prompts.text("form.presence"), MAX_LABEL),
                "element": {
                    "type": "radio_buttons",
                    "action_id": INPUT_PRESENCE,
                    "options": options,
                },
            },
            {
                "type": "input",
                "block_id": BLOCK_TEXT,
                "optional": True,
                "label": _plain(prompts.text("form.text"), MAX_LABEL),
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_TEXT,
                    "multiline": True,
                    "max_length": REFLECTION_MAX_CHARS,
                },
            },
            context(prompts.text("form.private")),
        ],
    )


def build_pause_form(prompts: Prompts, *, initial_date: str) -> dict[str, Any]:
    """Pause until a date (the user's local date; Heedful resumes that morning)."""
    return _modal(
        prompts,
        callback_id=VIEW_PAUSE,
        title="button.pause",
        submit="button.home.pause",
        blocks=[
            {
                "type": "input",
                "block_id": BLOCK_UNTIL,
                "label": _plain(prompts.text("pause.label"), MAX_LABEL),
                "element": {
                    "type": "datepicker",
                    "action_id": INPUT_UNTIL,
                    "initial_date": initial_date,
                },
            }
        ],
    )


def build_welcome(prompts: Prompts) -> Message:
    """The first DM: what Heedful does, and (one button) an invitation to write their why."""
    text = prompts.text("welcome.text")
    write = _button(prompts.text("button.why.write"), ACTION_WHY_OPEN, "welcome", style="primary")
    return Message(
        text=text,
        blocks=[section(text), section(prompts.text("welcome.why")), _actions("welcome", write)],
    )


# ----------------------------------------------------------------------------- the why

ACTION_WHY_OPEN = "why_open"  # the welcome's button and the Home tab's: opens the form
VIEW_WHY = "why_form"
BLOCK_WHY, INPUT_WHY = "why", "why_value"
BLOCK_FOCUS, INPUT_FOCUS = "focus", "focus_value"
FOCUS_SUGGEST = "suggest"  # the select's first option: suggest a focus from the words


def _option(text: str, value: str, description: str | None = None) -> dict[str, Any]:
    option: dict[str, Any] = {"text": _plain(text, MAX_OPTION), "value": value}
    if description:
        option["description"] = _plain(description, MAX_OPTION)
    return option


def build_why_form(
    prompts: Prompts, *, text: str, focus: str | None, suggestion: str | None
) -> dict[str, Any]:
    """The "Your why" modal: their words (multi-line, filled with what they wrote before)
    and one focus practice from the nine.

    The select's first option asks Heedful to suggest the practice from the words when the
    form is saved; it names the practice the saved words suggest now (``suggestion``) when
    there are any. It is the initial option unless they picked a practice (``focus``).
    The text input has no ``max_length``: Heedful checks the length itself on submission, so
    the error can say how long it is and what to aim for (``bot.why.read_form``).
    """
    if suggestion in PRACTICE_ORDER:
        name = prompts.text(f"focus.name.{suggestion}")
        suggest = _option(prompts.text("why.suggest_now", practice=name), FOCUS_SUGGEST)
    else:
        suggest = _option(prompts.text("why.suggest"), FOCUS_SUGGEST)
    options = [suggest] + [
        _option(
            prompts.text(f"focus.name.{practice}"),
            practice,
            prompts.text(f"focus.about.{practice}"),
        )
        for practice in PRACTICE_ORDER
    ]
    initial = next((o for o in options if o["value"] == focus), suggest)
    words: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": INPUT_WHY,
        "multiline": True,
        "placeholder": _plain(prompts.text("why.placeholder"), MAX_PLACEHOLDER),
    }
    if text:
        words["initial_value"] = clip(text, MAX_INPUT_VALUE)
    return _modal(
        prompts,
        callback_id=VIEW_WHY,
        title="why.title",
        submit="why.submit",
        blocks=[
            {
                "type": "input",
                "block_id": BLOCK_WHY,
                "label": _plain(prompts.text("why.label"), MAX_LABEL),
                "hint": _plain(prompts.text("why.hint"), MAX_LABEL),
                "element": words,
            },
            {
                "type": "input",
                "block_id": BLOCK_FOCUS,
                "label": _plain(prompts.text("why.focus_label"), MAX_LABEL),
                "hint": _plain(prompts.text("why.focus_hint"), MAX_LABEL),
                "element": {
                    "type": "static_select",
                    "action_id": INPUT_FOCUS,
                    "options": options,
                    "initial_option": initial,
                },
            },
        ],
    )


def replace_actions(blocks: list[dict[str, Any]], block_id: str, note: str) -> list[dict[str, Any]]:
    """The same message with one actions block swapped for a quiet note."""
    out = []
    for block in blocks:
        if block.get("type") == "actions" and block.get("block_id") == block_id:
            out.append(context(escape(note)))
        else:
            out.append(block)
    return out


ACTION_ERASE_CONFIRM = "erase_confirm"
VIEW_ERASE = "erase_form"


def build_forget_confirm(prompts: Prompts) -> Message:
    """``/heedful forget`` asks once, with one button."""
    text = prompts.text("forget.confirm")
    button = _button(prompts.text("forget.button"), ACTION_ERASE_CONFIRM, "erase", style="danger")
    return Message(text=text, blocks=[section(text), _actions("forget", button)])


def build_erase_form(prompts: Prompts) -> dict[str, Any]:
    """The Home tab's "Erase my data": the same question, as a modal."""
    return _modal(
        prompts,
        callback_id=VIEW_ERASE,
        title="forget.title",
        submit="forget.button",
        blocks=[section(prompts.text("forget.confirm"))],
    )
