"""The Windows → IANA table and TZID resolution."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from bot.calendars import zones


def test_every_windows_name_maps_to_a_zone_tzdata_knows() -> None:
    assert len(zones.WINDOWS_TO_IANA) >= 100
    for windows, iana in zones.WINDOWS_TO_IANA.items():
        assert zones.iana(iana) is not None, (windows, iana)


def test_the_table_agrees_with_cldr_as_icalendar_ships_it() -> None:
    """Same offsets in winter and summer as icalendar's copy of CLDR windowsZones.xml
    (which still uses old names like Asia/Calcutta)."""
    shared = set(zones.WINDOWS_TO_IANA) & set(WINDOWS_TO_OLSON)
    assert len(shared) >= 130
    for name in shared:
        ours, theirs = ZoneInfo(zones.WINDOWS_TO_IANA[name]), ZoneInfo(WINDOWS_TO_OLSON[name])
        for moment in (datetime(2026, 1, 15, 12), datetime(2026, 7, 15, 12)):
            assert (
                moment.replace(tzinfo=ours).utcoffset() == moment.replace(tzinfo=theirs).utcoffset()
            ), name


@pytest.mark.parametrize(
    ("tzid", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("W. Europe Standard Time", "Europe/Berlin"),
        ("w. europe standard time", "Europe/Berlin"),
        ('"Pacific Standard Time"', "America/Los_Angeles"),
        ("India Standard Time", "Asia/Kolkata"),
        ("/mozilla.org/20070129_1/America/New_York", "America/New_York"),
        ("/citadel.org/20190914_1/Europe/Paris", "Europe/Paris"),
        ("/Europe/Berlin", "Europe/Berlin"),
        ("Customized Time Zone", None),
        ("Western/Central Europe", None),
        ("Europe", None),
        ("", None),
        ("../../etc/passwd", None),
    ],
)
def test_canonical_name(tzid: str, expected: str | None) -> None:
    assert zones.canonical_name(tzid) == expected
