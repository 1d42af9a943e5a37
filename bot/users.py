"""People: their Slack profile (IANA zone, e-mail) and their DM channel."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from bot.clock import valid_zone
from bot.services import Services
from bot.storage import users
from bot.storage.db import session_scope
from bot.storage.models import SlackUser

PROFILE_MAX_AGE = timedelta(hours=24)


def needs_profile(services: Services, *, team_id: str, user_id: str) -> bool:
    """True when we have no fresh copy of the user's zone (ask ``users.info``)."""
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
        if user is None or user.tz_checked_at is None:
            return True
        return services.clock.now() - user.tz_checked_at > PROFILE_MAX_AGE


def apply_profile(user: SlackUser, profile: Mapping[str, Any], *, now: datetime) -> None:
    """Copy zone and e-mail from a Slack user object (``users.info`` or ``user_change``)."""
    zone = valid_zone(profile.get("tz"))
    if zone:
        user.tz = zone
    email = (profile.get("profile") or {}).get("email")
    if email:
        user.email = str(email).lower()
    user.tz_checked_at = now


def remember_user(
    services: Services,
    *,
    team_id: str,
    user_id: str,
    profile: Mapping[str, Any] | None = None,
    dm_channel: str | None = None,
) -> SlackUser:
    """Create or refresh a user's row from what Slack just told us."""
    now = services.clock.now()
    with session_scope(services.engine) as session:
        user = users.ensure_user(session=session, team_id=team_id, user_id=user_id, now=now)
        if profile is not None:
            apply_profile(user, profile, now=now)
        if dm_channel and dm_channel.startswith("D"):
            user.dm_channel_id = dm_channel
        session.add(user)
        return user


def on_user_change(services: Services, *, team_id: str, event: Mapping[str, Any]) -> bool:
    """A ``user_change`` event (its ``user`` is the new profile): refresh the zone of
    someone we know. False if unknown."""
    profile = event.get("user") or {}
    user_id = profile.get("id")
    if not user_id:
        return False
    with session_scope(services.engine) as session:
        user = users.get_user(session=session, team_id=team_id, user_id=user_id)
        if user is None:
            return False
        before = user.tz
        apply_profile(user, profile, now=services.clock.now())
        session.add(user)
        moved = user.tz != before
    if moved:  # quiet hours and caps are local: plan again in the new zone
        from bot.occurrences import replan_user

        replan_user(services, team_id=team_id, user_id=user_id)
    return True
