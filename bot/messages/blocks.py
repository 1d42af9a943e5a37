"""Pure Block Kit builders. Each returns a :class:`Message` or a view dict; the
words come from ``prompts/``; nothing here does I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.messages.message import Message
from bot.messages.prompts import Prompts


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


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
        "title": {"type": "plain_text", "text": prompts.text(title)[:24]},
        "submit": {"type": "plain_text", "text": prompts.text(submit)[:24]},
        "close": {"type": "plain_text", "text": prompts.text("form.cancel")[:24]},
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
ACTION_HOME_UNMUTE = "home_unmute"
ACTION_HOME_EXPORT = "home_export"
ACTION_HOME_ERASE = "home_erase"
VIEW_CONNECT = "connect_form"
VIEW_SETTINGS = "settings_form"
BLOCK_URL, INPUT_URL = "url", "url_value"
MAX_HOME_ITEMS = 8


@dataclass(frozen=True)
class HomeState:
    """Everything the Home tab shows, already in the user's words and zone."""

    zone: str | None
    connected: bool
    paused_until: str | None = None
    next_items: list[tuple[str, str, str]] = field(default_factory=list)  # when, kind, title
    settings: dict[str, str] = field(default_factory=dict)  # summary placeholders
    calendars: list[tuple[int, str, str]] = field(default_factory=list)  # id, name, status
    muted: list[tuple[str, str]] = field(default_factory=list)  # series key, title


def build_home_view(prompts: Prompts, state: HomeState) -> dict[str, Any]:
    """The App Home tab: what comes next, settings, calendars, privacy, pause/export/erase."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": prompts.text("home.title")}},
        _section(prompts.text("home.intro")),
    ]
    if state.paused_until:
        blocks.append(_section(prompts.text("home.paused", until=state.paused_until)))
    if not state.connected:
        blocks.append(_section(prompts.text("home.not_connected")))
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
        )
    )
    if state.connected:
        blocks += [{"type": "divider"}, _section(f"*{prompts.text('home.next_header')}*")]
        items = [
            prompts.text("home.next_item", when=when, what=what, title=escape(title))
            for when, what, title in state.next_items[:MAX_HOME_ITEMS]
        ]
        blocks.append(_section("\n".join(items) if items else prompts.text("home.next_none")))
    if state.settings:
        blocks += [
            {"type": "divider"},
            _section(f"*{prompts.text('home.settings_header')}*"),
            _context(prompts.text("home.settings_summary", **state.settings)),
        ]
    if state.calendars:
        blocks += [{"type": "divider"}, _section(f"*{prompts.text('home.calendars_header')}*")]
        for source_id, name, status in state.calendars[:MAX_HOME_ITEMS]:
            blocks.append(
                {
                    **_section(
                        prompts.text("home.calendar_item", name=escape(name), status=status)
                    ),
                    "accessory": _button(
                        prompts.text("button.home.remove"), ACTION_HOME_REMOVE, str(source_id)
                    ),
                }
            )
    if state.muted:
        blocks += [{"type": "divider"}, _section(f"*{prompts.text('home.muted_header')}*")]
        for series_key, title in state.muted[:MAX_HOME_ITEMS]:
            blocks.append(
                {
                    **_section(escape(title) or series_key.split("|")[-1]),
                    "accessory": _button(
                        prompts.text("button.home.unmute"), ACTION_HOME_UNMUTE, series_key
                    ),
                }
            )
    blocks += [
        {"type": "divider"},
        _context(prompts.text("home.privacy")),
        _actions(
            "home_data",
            _button(prompts.text("button.home.export"), ACTION_HOME_EXPORT, "export"),
            _button(prompts.text("button.home.erase"), ACTION_HOME_ERASE, "erase", style="danger"),
        ),
    ]
    if state.zone:
        blocks.append(_context(prompts.text("home.zone", zone=state.zone)))
    return {"type": "home", "blocks": blocks}


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
                "label": {"type": "plain_text", "text": prompts.text("connect.label")},
                "hint": {"type": "plain_text", "text": prompts.text("connect.hint")},
                "element": {"type": "url_text_input", "action_id": INPUT_URL},
            }
        ],
    )


SETTING_CHOICES = {
    "lead_minutes": (1, 2, 3, 5, 10, 15, 20, 30),
    "reflection_delay_minutes": (0, 1, 2, 5, 10, 15, 30, 60),
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
    days_block: dict[str, Any] = {
        "type": "input",
        "block_id": "working_days",
        "label": {"type": "plain_text", "text": prompts.text("settings.days")},
        "element": {"type": "checkboxes", "action_id": "value", "options": days},
    }
    if working:
        days_block["element"]["initial_options"] = working
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
            clock("quiet_start", "settings.quiet_start", current["quiet_start"]),
            clock("quiet_end", "settings.quiet_end", current["quiet_end"]),
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
ACTION_TAP = "reflect_tap"  # value: "<delivery id>:<presence 1-5>"
VIEW_REFLECTION = "reflection_form"
VIEW_PAUSE = "pause_form"
BLOCK_PRESENCE, INPUT_PRESENCE = "presence", "presence_value"
BLOCK_TEXT, INPUT_TEXT = "text", "text_value"
BLOCK_UNTIL, INPUT_UNTIL = "until", "until_value"
REFLECTION_MAX_CHARS = 2000
TAPS = (("button.present", 5), ("button.partly", 3), ("button.elsewhere", 1))


def escape(text: str) -> str:
    """Slack mrkdwn escaping for text we did not write (meeting titles)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _button(text: str, action_id: str, value: str, *, style: str | None = None) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": {"type": "plain_text", "text": text[:75]},
        "action_id": action_id,
        "value": value[:2000],
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


def _tap_buttons(prompts: Prompts, *, delivery_id: int) -> dict[str, Any]:
    taps = [
        _button(prompts.text(prompt_id), ACTION_TAP, f"{delivery_id}:{presence}")
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
    title = escape(title)
    blocks = [
        _section(f"*{prompts.text('reminder.header', title=title, time=time)}*"),
        _section(f":wind_blowing_face: {cue}\n:ear: {intention}"),
    ]
    if join_url:
        blocks.append(_context(f"<{join_url}|{prompts.text('reminder.join')}>"))
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
) -> Message:
    """Back-to-back meetings: one message that reflects on one and prepares the next."""
    previous, title = escape(previous), escape(title)
    blocks = [
        _section(
            f"*{prompts.text('transition.header', previous=previous, title=title, time=time)}*"
        ),
        _section(f":thought_balloon: {prompts.text('transition.reflect', question=question)}"),
        _context(prompts.text("reflection.how")),
        _tap_buttons(prompts, delivery_id=delivery_id),
        {"type": "divider"},
        _section(f":wind_blowing_face: {cue}\n:ear: {intention}"),
    ]
    if join_url:
        blocks.append(_context(f"<{join_url}|{prompts.text('reminder.join')}>"))
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
    prompts: Prompts, *, delivery_id: int, title: str, question: str, series_key: str
) -> Message:
    """One question about how the user showed up, answered by a reply or a tap."""
    title = escape(title)
    blocks = [
        _section(f"*{prompts.text('reflection.header', title=title)}*\n{question}"),
        _context(prompts.text("reflection.how")),
        _tap_buttons(prompts, delivery_id=delivery_id),
        _context(prompts.text("form.private")),
    ]
    text = prompts.text("reflection.fallback", title=title, question=question)
    del series_key  # reflections carry no mute button: the reminder has one
    return Message(text=text, blocks=blocks)


def build_done(text: str) -> Message:
    """What a nudge turns into once acted on (its buttons gone)."""
    return Message(text=text, blocks=[_context(escape(text))])


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
            *([_section(question)] if question else []),  # a section may not be empty
            {
                "type": "input",
                "block_id": BLOCK_PRESENCE,
                "optional": True,
                "label": {"type": "plain_text", "text": prompts.text("form.presence")},
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
                "label": {"type": "plain_text", "text": prompts.text("form.text")},
                "element": {
                    "type": "plain_text_input",
                    "action_id": INPUT_TEXT,
                    "multiline": True,
                    "max_length": REFLECTION_MAX_CHARS,
                },
            },
            _context(prompts.text("form.private")),
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
                "label": {"type": "plain_text", "text": prompts.text("pause.label")},
                "element": {
                    "type": "datepicker",
                    "action_id": INPUT_UNTIL,
                    "initial_date": initial_date,
                },
            }
        ],
    )


def build_welcome(prompts: Prompts) -> Message:
    text = prompts.text("welcome.text")
    return Message(text=text, blocks=[_section(text)])


def replace_actions(blocks: list[dict[str, Any]], block_id: str, note: str) -> list[dict[str, Any]]:
    """The same message with one actions block swapped for a quiet note."""
    out = []
    for block in blocks:
        if block.get("type") == "actions" and block.get("block_id") == block_id:
            out.append(_context(escape(note)))
        else:
            out.append(block)
    return out


ACTION_ERASE_CONFIRM = "erase_confirm"
VIEW_ERASE = "erase_form"


def build_forget_confirm(prompts: Prompts) -> Message:
    """``/heedful forget`` asks once, with one button."""
    text = prompts.text("forget.confirm")
    button = _button(prompts.text("forget.button"), ACTION_ERASE_CONFIRM, "erase", style="danger")
    return Message(text=text, blocks=[_section(text), _actions("forget", button)])


def build_erase_form(prompts: Prompts) -> dict[str, Any]:
    """The Home tab's "Erase my data": the same question, as a modal."""
    return _modal(
        prompts,
        callback_id=VIEW_ERASE,
        title="forget.title",
        submit="forget.button",
        blocks=[_section(prompts.text("forget.confirm"))],
    )
