"""The storage functions at their first address, for callers written before each table
got its own module: the SQL lives in ``bot.storage.deliveries`` (the outbox),
``bot.storage.inbox``, ``bot.storage.installations``, ``bot.storage.users`` and
``bot.storage.scheduled``; this module holds none, it only names theirs."""

from bot.storage.deliveries import (
    DELIVERY,
    ClaimedDelivery,
    DeliveryOutcome,
    Failure,
    FailureKind,
    claim_deliveries,
    claim_order,
    enqueue_deliveries,
    enqueue_now,
    finish_deliveries,
    held_by,
    next_due,
    outbox_depth,
    renew_lease,
)
from bot.storage.dialect import insert_ignoring_duplicates
from bot.storage.inbox import INBOX, ClaimedInboxItem, claim_inbox, finish_inbox, store_inbox
from bot.storage.installations import INSTALLATION, pause_installation, upsert_installation
from bot.storage.scheduled import mark_unreachable
from bot.storage.users import ensure_user, get_user

__all__ = [
    "DELIVERY",
    "INBOX",
    "INSTALLATION",
    "ClaimedDelivery",
    "ClaimedInboxItem",
    "DeliveryOutcome",
    "Failure",
    "FailureKind",
    "claim_deliveries",
    "claim_inbox",
    "claim_order",
    "enqueue_deliveries",
    "enqueue_now",
    "ensure_user",
    "finish_deliveries",
    "finish_inbox",
    "get_user",
    "held_by",
    "insert_ignoring_duplicates",
    "mark_unreachable",
    "next_due",
    "outbox_depth",
    "pause_installation",
    "renew_lease",
    "store_inbox",
    "upsert_installation",
]
