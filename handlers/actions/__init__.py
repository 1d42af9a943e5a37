"""Button taps on nudges and on the Home tab."""

from __future__ import annotations

from slack_bolt import App

from bot.messages import blocks as kit
from bot.messages import commitments as ckit
from bot.messages import digest as dkit
from bot.messages import feedback as fkit
from handlers.actions.commitments import (
    handle_commitment_check,
    handle_commitment_home,
    handle_commitment_keep,
)
from handlers.actions.feedback import (
    handle_feedback_answer,
    handle_feedback_never,
    handle_feedback_opt_in,
    handle_feedback_series,
    handle_feedback_words,
)
from handlers.actions.home import (
    handle_erase_confirm,
    handle_home_connect,
    handle_home_erase,
    handle_home_export,
    handle_home_google,
    handle_home_microsoft,
    handle_home_remove,
    handle_home_resume,
    handle_home_settings,
    handle_home_unmute,
)
from handlers.actions.nudges import (
    handle_mute,
    handle_pause,
    handle_skip,
    handle_tap,
    handle_write,
)
from handlers.actions.why import handle_focus_keep, handle_focus_next, handle_why_open


def register(app: App) -> None:
    app.action(kit.ACTION_SKIP)(handle_skip)
    app.action(kit.ACTION_MUTE)(handle_mute)
    app.action(kit.ACTION_PAUSE)(handle_pause)
    app.action(kit.ACTION_TAP_PATTERN)(handle_tap)  # reflect_tap_5, _3, _1 and old reflect_tap
    app.action(kit.ACTION_WRITE)(handle_write)
    app.action(kit.ACTION_HOME_PAUSE)(handle_pause)  # the same form as a nudge's button
    app.action(kit.ACTION_HOME_RESUME)(handle_home_resume)
    app.action(kit.ACTION_HOME_SETTINGS)(handle_home_settings)
    app.action(kit.ACTION_HOME_CONNECT)(handle_home_connect)
    app.action(kit.ACTION_HOME_REMOVE)(handle_home_remove)
    app.action(kit.ACTION_HOME_GOOGLE)(handle_home_google)
    app.action(kit.ACTION_HOME_MICROSOFT)(handle_home_microsoft)
    app.action(kit.ACTION_HOME_UNMUTE)(handle_home_unmute)
    app.action(kit.ACTION_HOME_EXPORT)(handle_home_export)
    app.action(kit.ACTION_HOME_ERASE)(handle_home_erase)
    app.action(kit.ACTION_ERASE_CONFIRM)(handle_erase_confirm)
    app.action(kit.ACTION_WHY_OPEN)(handle_why_open)  # the welcome DM's, Home's, the digest's
    app.action(dkit.ACTION_FOCUS_KEEP)(handle_focus_keep)  # the digest's three-week offer
    app.action(dkit.ACTION_FOCUS_NEXT)(handle_focus_next)
    # Feedback from others (bot.feedback)
    app.action(fkit.ACTION_SERIES_ON)(handle_feedback_series)
    app.action(fkit.ACTION_SERIES_OFF)(handle_feedback_series)
    app.action(fkit.ACTION_WORDS)(handle_feedback_words)
    app.action(fkit.ACTION_OPT_IN)(handle_feedback_opt_in)  # on a reflection question
    app.action(fkit.ACTION_ANSWER_PATTERN)(handle_feedback_answer)
    app.action(fkit.ACTION_NEVER)(handle_feedback_never)
    # Commitments (bot.commitments)
    app.action(ckit.ACTION_KEEP)(handle_commitment_keep)
    app.action(ckit.ACTION_CHECK_PATTERN)(handle_commitment_check)  # _yes, _partly, _not_yet
    app.action(ckit.ACTION_DONE)(handle_commitment_home)
    app.action(ckit.ACTION_DROP)(handle_commitment_home)
