"""Calendars: feeds and pushes become :class:`~bot.calendars.occurrence.Occurrence`.

Only this package imports calendar libraries (icalendar, recurring-ical-events,
x-wr-timezone); everything else speaks ``Occurrence``.
"""
