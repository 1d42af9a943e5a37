"""The signed calendar webhook: ``POST /hooks/calendar?source=<id>``.

Teams that automate (Zapier, Make, n8n, Power Automate, their own scripts) push events
instead of publishing a feed. An admin creates a **webhook source** for the workspace
(``heedful calendar hook create NAME``), which gets an id and a signing secret
(``whsec_`` + base64 of 32 random bytes, shown once, kept encrypted at rest). Requests
are signed as `Standard Webhooks <https://www.standardwebhooks.com/>`_ specify: headers
``webhook-id``, ``webhook-timestamp`` (Unix seconds) and ``webhook-signature``
(``v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">``). Any Standard Webhooks
library signs them, e.g. in Python::

    from standardwebhooks import Webhook
    headers = {
        "webhook-id": "msg_0001",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign("msg_0001", now, body),
    }

What happens to a request:

1. The signature is checked with the ``standardwebhooks`` library (constant-time
   comparison; a timestamp more than 5 minutes away from the server's wall clock is
   refused). A missing, unknown or deleted source, a bad signature, a stale timestamp
   or one that is not a single whole number of seconds → **401** with one line of
   reason; nothing is stored.
2. The body is validated in full, up to the rows it will become: each event goes
   through the mapping that stores it (``bot.occurrences.occurrence_row``), so a push
   answered 2xx is never dropped later. Anything wrong → **400** with one line naming
   the field (``events[2].start: …``); nothing is stored. That includes text with a
   NUL character or a lone surrogate (``"\\ud800"``), JSON that is not an object or is
   nested too deeply, and fields of the wrong type. At most 500 events and 500
   cancellations per request; the whole body at most 1 MiB (413 above that). A refusal
   is logged as one line with its status, never with the body.
3. The request is stored in the inbox under ``<source id>:<webhook-id>`` (encrypted at
   rest when a key is configured) and answered **202**. The same ``webhook-id`` again
   is a no-op answered **200** (``{"ok": true, "duplicate": true}``): retries are safe.
4. A worker then finds the user (by Slack id, or by e-mail: their Slack e-mail or one
   they added) and applies the events. A user Heedful does not know (never seen in
   this workspace, e.g. has not opened Heedful's App Home) is skipped and logged at
   WARNING with the webhook id; that push is not retried.

The body and how it becomes occurrences: :mod:`bot.calendars.webhook`.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from bot.calendars.webhook import (
    HookPayload,
    InvalidPayload,
    UserRef,
    event_occurrence,
    hook_source_name,
    parse_payload,
)
from bot.occurrences import (
    Unstorable,
    apply_occurrences,
    cancelled_instances,
    occurrence_row,
    remove_source,
)
from bot.prefs import Prefs
from bot.services import Services
from bot.storage import inbox, webhook_sources
from bot.storage import users as slack_users
from bot.storage.db import read_only
from bot.storage.inbox import ClaimedInboxItem
from bot.storage.webhook_sources import WebhookSourceInfo

logger = logging.getLogger(__name__)


HOOK_SOURCE = "calendar-hook"  # the inbox source name
MAX_WEBHOOK_ID = 200
SECRET_PREFIX = "whsec_"

_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")


class HookRejected(Exception):
    """A request the webhook refuses: ``status`` 400/401 and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# --------------------------------------------------------------------------- sources


def new_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def create_webhook_source(services: Services, *, team_id: str, name: str) -> tuple[int, str]:
    """Create a push source for a workspace. Returns its id and its secret (shown once)."""
    name = name.strip()
    if not name:
        raise ValueError("a webhook source needs a name")
    secret = new_secret()
    with services.engine.begin() as conn:
        source_id = webhook_sources.add_source(
            conn=conn,
            team_id=team_id,
            name=name[:255],
            secret=services.cipher.encrypt(secret),
            now=services.clock.now(),
        )
    logger.info("webhook source %s created for team %s", source_id, team_id)
    return source_id, secret


def list_webhook_sources(services: Services, *, team_id: str) -> list[WebhookSourceInfo]:
    """A workspace's push sources (never their secrets)."""
    with read_only(services.engine) as conn:
        return webhook_sources.sources(conn=conn, team_id=team_id)


def delete_webhook_source(services: Services, *, team_id: str, source_id: int) -> bool:
    """Stop accepting pushes from a source and forget the meetings it brought."""
    source = hook_source_name(source_id)
    with services.engine.begin() as conn:
        affected = webhook_sources.delete_source(
            conn=conn, team_id=team_id, source_id=source_id, source=source
        )
    if affected is None:
        return False
    for user_id in affected:
        remove_source(services, team_id=team_id, user_id=user_id, source=source)
    logger.info("webhook source %s deleted (%d users affected)", source_id, len(affected))
    return True


def _load_source(services: Services, source_id: int) -> tuple[str, str] | None:
    """(team id, encrypted secret) of a source, or None."""
    with read_only(services.engine) as conn:
        key = webhook_sources.source_key(conn=conn, source_id=source_id)
    return None if key is None else (key.team_id, key.secret)


# --------------------------------------------------------------------------- receiving


@dataclass(frozen=True)
class Accepted:
    source_id: int
    webhook_id: str
    duplicate: bool


def receive(
    services: Services,
    *,
    source: Sequence[str] | None,
    headers: Mapping[str, str],
    body: bytes,
) -> Accepted:
    """Verify, validate and store one request (steps 1–3 of the module docstring).

    ``source`` is the request's ``source`` query values. Raises HookRejected.
    """
    if not source or len(source) != 1 or not source[0].isdigit() or len(source[0]) > 12:
        raise HookRejected(400, "name the webhook source: /hooks/calendar?source=<id>")
    source_id = int(source[0])
    found = _load_source(services, source_id)
    if found is None:
        raise HookRejected(401, "unknown webhook source")
    team_id, secret = found
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HookRejected(400, "the body is not UTF-8") from None
    lowered = {k.lower(): v for k, v in headers.items()}
    timestamp = lowered.get("webhook-timestamp")
    if timestamp is not None and not _UNIX_SECONDS.fullmatch(timestamp):
        # The library would read "1.7e9" or "12.5" as a time and sign its floor.
        raise HookRejected(401, "webhook-timestamp: one value, whole Unix seconds")
    try:
        Webhook(services.cipher.decrypt(secret)).verify(text, dict(headers), json_parse=False)
    except WebhookVerificationError as exc:
        raise HookRejected(401, _signature_reason(str(exc))) from None
    except ValueError:  # a signature header that is not "v1,<base64>"
        raise HookRejected(401, "malformed webhook-signature header") from None
    webhook_id = lowered["webhook-id"]
    if len(webhook_id) > MAX_WEBHOOK_ID or not webhook_id.isprintable():
        raise HookRejected(400, f"webhook-id: at most {MAX_WEBHOOK_ID} printable characters")
    try:
        data = json.loads(text)
    except ValueError:
        raise HookRejected(400, "the body is not JSON") from None
    except RecursionError:
        raise HookRejected(400, "the body is nested too deeply") from None
    try:
        _storable_rows(parse_payload(data), hook_source_name(source_id), services.clock.now())
    except InvalidPayload as exc:
        raise HookRejected(400, str(exc)) from None
    envelope = json.dumps({"source_id": source_id, "webhook_id": webhook_id, "payload": data})
    new = inbox.store_inbox(
        engine=services.engine,
        source=HOOK_SOURCE,
        external_id=f"{source_id}:{webhook_id}",
        body=services.cipher.encrypt(envelope),
        now=services.clock.now(),
        team_id=team_id,
        user_id=(data.get("user") or {}).get("slack_id"),
        kind="push",
    )
    if new:
        logger.debug("calendar hook %s (source %s) stored", webhook_id, source_id)
    else:
        logger.info("calendar hook %s (source %s) is a repeat", webhook_id, source_id)
    return Accepted(source_id=source_id, webhook_id=webhook_id, duplicate=not new)


def _storable_rows(payload: HookPayload, source: str, now: datetime) -> None:
    """Run every event through the mapping that will store it (as if for a user with
    no address), so a push that would fail when applied is refused now, not dropped
    after its 2xx."""
    for i, event in enumerate(payload.events):
        try:
            occurrence_row("", "", event_occurrence(event, source=source), now)
        except Unstorable as exc:
            raise InvalidPayload(f"events[{i}]: cannot be stored: {exc}") from None


def _signature_reason(library_message: str) -> str:
    lowered = library_message.lower()
    if "missing" in lowered:
        return "missing webhook-id, webhook-timestamp or webhook-signature header"
    if "too old" in lowered:
        return "webhook-timestamp is more than 5 minutes old"
    if "too new" in lowered:
        return "webhook-timestamp is more than 5 minutes in the future"
    if "no matching" in lowered:
        return "no valid signature for this source"
    return "invalid signature headers"


# --------------------------------------------------------------------------- processing


def hook_dispatcher(services: Services) -> Callable[[ClaimedInboxItem], None]:
    """The inbox dispatcher for ``calendar-hook`` rows."""

    def dispatch(row: ClaimedInboxItem) -> None:
        process_stored(services, row)

    return dispatch


def process_stored(services: Services, row: ClaimedInboxItem) -> None:
    """Apply one stored push (step 4). Raises only for what a retry may fix."""
    envelope = json.loads(services.cipher.decrypt(row.body))
    source_id = int(envelope["source_id"])
    webhook_id = str(envelope["webhook_id"])
    team_id = row.team_id
    if _load_source(services, source_id) is None:
        logger.warning(
            "calendar hook %s: webhook source %s was deleted; skipped", webhook_id, source_id
        )
        return
    try:
        payload = parse_payload(envelope["payload"])
    except InvalidPayload as exc:  # accepted under older rules: a retry cannot help
        logger.warning("calendar hook %s (source %s): %s; skipped", webhook_id, source_id, exc)
        return
    user = _find_user(services, team_id=team_id, ref=payload.user)
    if user is None:
        logger.warning(
            "calendar hook %s (source %s): no user in team %s matches the %s given; skipped",
            webhook_id,
            source_id,
            team_id,
            "slack_id" if payload.user.slack_id else "email",
        )
        return
    user_id, emails, zone = user
    source = hook_source_name(source_id)
    occurrences = [
        event_occurrence(e, source=source, user_emails=emails, zone=zone) for e in payload.events
    ]
    if payload.cancel:
        refs = [(r.uid, r.recurrence_id) for r in payload.cancel]
        occurrences += cancelled_instances(
            services, team_id=team_id, user_id=user_id, source=source, refs=refs
        )
    result = apply_occurrences(
        services, team_id=team_id, user_id=user_id, source=source, occurrences=occurrences
    )
    logger.info(
        "calendar hook %s (source %s) for %s: %d added, %d changed, %d skipped",
        webhook_id,
        source_id,
        user_id,
        result.added,
        result.updated,
        result.skipped,
    )


def _find_user(
    services: Services, *, team_id: str, ref: UserRef
) -> tuple[str, list[str], str] | None:
    """(Slack id, e-mail addresses, IANA zone) of the user a push names, or None."""
    with read_only(services.engine) as conn:
        if ref.slack_id:
            rows = slack_users.people(conn=conn, team_id=team_id, slack_id=ref.slack_id)
        else:
            rows = slack_users.people(conn=conn, team_id=team_id, email=ref.email)
            if not rows:  # an address the user added in their preferences
                rows = [
                    r
                    for r in slack_users.people(conn=conn, team_id=team_id)
                    if ref.email in {e.lower() for e in Prefs.from_json(r.prefs).emails}
                ]
    if len(rows) != 1:
        if len(rows) > 1:
            logger.warning("calendar hook: %d users of team %s share an e-mail", len(rows), team_id)
        return None
    row = rows[0]
    emails = [e.lower() for e in (row.email, *Prefs.from_json(row.prefs).emails) if e]
    return row.slack_user_id, list(dict.fromkeys(emails)), row.tz or "UTC"
