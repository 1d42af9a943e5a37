"""The calendar boundary: what a calendar says becomes
:class:`~bot.calendars.occurrence.Occurrence` values. Pure conversion, one module per
calendar kind (:mod:`~bot.calendars.ics` for feeds, :mod:`~bot.calendars.webhook` for the
signed webhook's body, :mod:`~bot.calendars.google` for Google Calendar's events,
:mod:`~bot.calendars.microsoft` for Microsoft Graph's), with one attendance rule for all of
them (:mod:`~bot.calendars.attendance`).

Only this package reads calendar data (icalendar, recurring-ical-events, x-wr-timezone,
Google's and Graph's event JSON); it imports nothing of Heedful's above it, does no I/O and reads no
clock. Reading calendars and acting on what they say is :mod:`bot.sync`.
"""
