"""Keeping a person's calendars in step: connect, refresh, receive a push, apply, tell.

One use-case module per calendar kind: :mod:`bot.sync.feeds` (ICS feed links, polled),
:mod:`bot.sync.hooks` (the signed webhook), :mod:`bot.sync.google` (Google Calendar,
connected with OAuth and pushed) and :mod:`bot.sync.microsoft` (Microsoft 365, connected
with MSAL, delta queries and change notifications). Each reads its provider (over HTTP, or from the
inbox), turns what it read into :class:`~bot.calendars.occurrence.Occurrence` values with
the pure conversion of :mod:`bot.calendars`, and hands them to
:func:`bot.occurrences.apply_occurrences`, which stores them and re-plans the nudges.

Words: an *occurrence* is one instance of a calendar event, whatever it holds (the code's
word, everywhere); *meeting* is left to the words people read, and to
:class:`~bot.calendars.occurrence.MeetingKind`, the kind of meeting an occurrence with
other people is.
"""
