"""Microsoft Graph's events as occurrences (bot.calendars.microsoft): pure, no fake."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.calendars import microsoft
from bot.calendars.occurrence import Category, Response, SkipReason
from bot.sync import microsoft as flow

ME = "ana@example.com"


def event(**fields: Any) -> dict[str, Any]:
    """A Graph v1.0 event as calendarView delta returns it, with the person invited."""
    return {
        "id": "AAMkADevt1",
        "iCalUId": "040000008200E00074C5B7101A82E008",
        "type": "singleInstance",
        "subject": "1:1 with Ben",
        "bodyPreview": "",
        "start": {"dateTime": "2026-12-07T09:00:00.0000000", "timeZone": "UTC"},
        "end": {"dateTime": "2026-12-07T09:30:00.0000000", "timeZone": "UTC"},
        "isAllDay": False,
        "isCancelled": False,
        "isOrganizer": False,
        "showAs": "busy",
        "responseStatus": {"response": "accepted", "time": "2026-12-01T10:00:00Z"},
        "organizer": {"emailAddress": {"name": "Ben", "address": "ben@example.com"}},
        "attendees": [
            {
                "type": "required",
                "status": {"response": "none", "time": "0001-01-01T00:00:00Z"},
                "emailAddress": {"name": "Ana", "address": ME},
            },
            {
                "type": "required",
                "status": {"response": "accepted"},
                "emailAddress": {"name": "Ben", "address": "ben@example.com"},
            },
        ],
        "onlineMeeting": None,
        "location": {"displayName": ""},
        **fields,
    }


def read(item: dict[str, Any], zone: str = "UTC") -> Any:
    return microsoft.event_occurrence(item, source="microsoft:1", own=[ME], zone=zone)


def test_a_single_event_is_known_by_its_id_with_graph_times_in_utc() -> None:
    occ = read(
        event(start={"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "Europe/Berlin"})
    )
    assert (occ.uid, occ.recurrence_id, occ.recurring) == ("AAMkADevt1", None, False)
    assert occ.start == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    assert occ.end == datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert (occ.attendees, occ.people, occ.self_response) == (
        2,
        ("ben@example.com",),
        Response.ACCEPTED,
    )
    assert occ.eligible


def test_a_windows_zone_name_is_read_too() -> None:
    occ = read(
        event(
            start={"dateTime": "2026-12-07T10:00:00.0000000", "timeZone": "W. Europe Standard Time"}
        )
    )
    assert occ.start == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


def test_instances_share_their_series_and_keep_their_original_start() -> None:
    item = event(
        id="AAMkADocc2",
        type="exception",
        seriesMasterId="AAMkADmaster",
        originalStart="2026-12-07T09:00:00Z",
        start={"dateTime": "2026-12-07T09:15:00.0000000", "timeZone": "UTC"},
    )
    occ = read(item)
    assert (occ.uid, occ.recurrence_id, occ.recurring) == (
        "AAMkADmaster",
        "2026-12-07T09:00:00Z",
        True,
    )
    assert microsoft.event_id(item) == "AAMkADocc2"
    other = read(
        event(
            id="AAMkADocc3",
            type="occurrence",
            seriesMasterId="AAMkADmaster",
            originalStart="2026-12-14T09:00:00.0000000Z",
        )
    )
    assert (other.uid, other.recurrence_id) == ("AAMkADmaster", "2026-12-14T09:00:00Z")


def test_removed_and_cancelled_are_withdrawals_not_occurrences() -> None:
    removed = {"id": "AAMkADocc2", "@removed": {"reason": "deleted"}}
    assert microsoft.is_removed(removed)
    assert microsoft.withdrawal(removed) == microsoft.Removal("AAMkADocc2")
    cancelled = event(
        isCancelled=True, seriesMasterId="AAMkADmaster", originalStart="2026-12-07T09:00:00Z"
    )
    assert microsoft.is_cancelled(cancelled) and not microsoft.is_removed(cancelled)
    assert microsoft.withdrawal(cancelled) == microsoft.Cancellation(
        "AAMkADmaster", "2026-12-07T09:00:00Z"
    )
    assert microsoft.withdrawal(event(isCancelled=True)) == microsoft.Cancellation(
        "AAMkADevt1", None
    )


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"responseStatus": {"response": "declined"}}, SkipReason.DECLINED),
        ({"showAs": "free"}, SkipReason.FREE),
        ({"showAs": "oof"}, SkipReason.OUT_OF_OFFICE),
        (
            {
                "isAllDay": True,
                "start": {"dateTime": "2026-12-07T00:00:00.0000000", "timeZone": "UTC"},
                "end": {"dateTime": "2026-12-08T00:00:00.0000000", "timeZone": "UTC"},
            },
            SkipReason.ALL_DAY,
        ),
        ({"showAs": "tentative", "responseStatus": {"response": "tentativelyAccepted"}}, None),
        ({"showAs": "workingElsewhere"}, None),
    ],
)
def test_skip_reasons_follow_the_one_attendance_rule(
    fields: dict[str, Any], reason: SkipReason | None
) -> None:
    assert read(event(**fields)).skip_reason is reason


def test_out_of_office_is_a_category_like_googles() -> None:
    assert read(event(showAs="oof")).category is Category.OUT_OF_OFFICE


def test_an_all_day_event_starts_at_midnight_in_the_mailbox_zone() -> None:
    occ = read(
        event(
            isAllDay=True,
            start={"dateTime": "2026-12-07T00:00:00.0000000", "timeZone": "UTC"},
            end={"dateTime": "2026-12-08T00:00:00.0000000", "timeZone": "UTC"},
        ),
        zone="W. Europe Standard Time",
    )
    assert occ.all_day and occ.start == datetime(2026, 12, 6, 23, 0, tzinfo=UTC)


def test_an_answer_under_an_address_graph_does_not_list_still_counts() -> None:
    """Invited through a group: only ``responseStatus`` says what the person answered."""
    item = event(
        responseStatus={"response": "declined"},
        attendees=[
            {
                "type": "required",
                "status": {"response": "none"},
                "emailAddress": {"address": "team@example.com"},
            }
        ],
    )
    occ = read(item)
    assert occ.self_response is Response.DECLINED
    assert occ.skip_reason is SkipReason.DECLINED


def test_rooms_are_not_people_and_a_personal_block_is_solo() -> None:
    room = {
        "type": "resource",
        "status": {"response": "accepted"},
        "emailAddress": {"address": "room-4@example.com"},
    }
    mine = read(
        event(
            isOrganizer=True,
            responseStatus={"response": "organizer"},
            organizer={"emailAddress": {"address": ME}},
            attendees=[room],
        )
    )
    assert (mine.attendees, mine.people, mine.skip_reason) == (1, (), SkipReason.SOLO)


def test_the_join_link_comes_from_the_online_meeting_or_the_text() -> None:
    teams = "https://teams.microsoft.com/l/meetup-join/19%3ameeting_abc"
    assert read(event(onlineMeeting={"joinUrl": teams})).conference_url == teams
    zoom = "https://example.zoom.us/j/123456789"
    assert read(event(bodyPreview=f"Join at {zoom} please")).conference_url == zoom


@pytest.mark.parametrize(
    ("item", "why"),
    [
        ({"subject": "x"}, "no id"),
        ({"id": "a", "start": None}, "no start"),
        ({"id": "a", "start": {"dateTime": "soon"}}, "not a date"),
        ({"id": "a", "attendees": "ana"}, "attendees"),
        ({"id": "a", "end": {"dateTime": "2026-12-07T08:00:00", "timeZone": "UTC"}}, "before"),
    ],
)
def test_an_unreadable_event_says_why_without_its_text(item: dict[str, Any], why: str) -> None:
    base = event()
    base.pop("id")
    with pytest.raises(microsoft.UnreadableEvent, match=why) as caught:
        read({**base, **item})
    assert "1:1 with Ben" not in str(caught.value)


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("token", "accept", "status"),
    [
        ("Validation: Testing client application reachability Request-Id: 1c2d", "", 200),
        ("abc123", "text/plain", 200),
        ("abc123", "*/*", 200),
        ("abc123", "text/html, text/plain;q=0.5", 200),
        ("abc123", "text/html", 406),
        ("abc123", "application/json, text/plain;q=0", 406),
        ("<script>alert(1)</script>", "", 400),
        ("a&b", "text/plain", 400),
        ("line\nbreak", "", 400),
        ("x" * 1025, "", 400),
        (None, "", 400),
    ],
)
def test_a_validation_token_is_echoed_only_as_plain_text(
    token: str | None, accept: str, status: int
) -> None:
    answer = flow.validation(token, accept=accept)
    assert answer.status == status
    assert answer.text == (token if status == 200 else None)
