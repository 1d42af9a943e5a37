"""Slack's mrkdwn, the few rules Heedful needs: escaping, clipping, links. Pure.

Slack treats three characters as control characters in message text: ``&``, ``<`` and
``>``. Text that somebody else wrote (a meeting title, a calendar's name, the person's own
reflection) is escaped exactly once, when a builder puts it into a message, so it can never
become a link, a mention or a broadcast (``<!channel>``). The person's words arrive from
Slack already escaped; :func:`unescape` turns them back into what they typed before they are
stored (see ``bot.reflections``).

Texts are clipped to the limits Slack documents, and a cut never splits an entity
(``&amp;``) or a ``<…>`` link in half: :func:`clip_mrkdwn` backs off to before it.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

ELLIPSIS = "…"
MAX_URL = 1000  # a link must leave room for its label in a 2,000-character context text

_ENTITY = re.compile(r"&(amp|lt|gt);")
_UNESCAPED = {"amp": "&", "lt": "<", "gt": ">"}
# Whitespace, controls, and the three characters that would end or split a <url|label>.
_NOT_IN_LINK = re.compile(r"[\s\x00-\x1f\x7f<>|]")


def escape(text: str) -> str:
    """Slack's three control characters as entities (for text we did not write)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What the person typed, from Slack's escaped message text (one pass, so ``&amp;lt;``
    stays the literal ``&lt;`` they wrote)."""
    return _ENTITY.sub(lambda m: _UNESCAPED[m.group(1)], text)


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, with an ellipsis when it was cut. For plain
    text, and for raw text before it is escaped."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + ELLIPSIS


def clip_mrkdwn(text: str, limit: int) -> str:
    """Like :func:`clip` for mrkdwn that is already escaped and may hold links: the cut
    moves back to before any entity (``&amp;``) or ``<…>`` it would split."""
    if len(text) <= limit:
        return text
    cut = limit - 1
    amp = text.rfind("&", 0, cut)
    if amp != -1 and ";" not in text[amp:cut]:
        cut = amp
    opening = text.rfind("<", 0, cut)
    if opening != -1 and ">" not in text[opening:cut]:
        cut = opening
    return text[:cut].rstrip() + ELLIPSIS


def link_url(url: str | None) -> str | None:
    """``url`` when it is a well-formed http(s) URL that can sit inside ``<url|label>``,
    else None (then no link is shown). Rejects ``<``, ``>``, ``|``, whitespace and control
    characters, which would end the link early or smuggle markup (``<!channel>``) in."""
    if not url or len(url) > MAX_URL or _NOT_IN_LINK.search(url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return None
    del port
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return url


def link(url: str | None, label: str) -> str | None:
    """A mrkdwn link ``<url|label>`` (``label`` is escaped), or None for a URL that
    :func:`link_url` refuses. ``&`` in the URL is escaped, as Slack asks."""
    safe = link_url(url)
    if safe is None:
        return None
    return f"<{escape(safe)}|{escape(label)}>"


def quote(text: str) -> str:
    """Someone's own words as a mrkdwn block quote: escaped once, every line quoted (a line
    without ``>`` would end the quote and show the rest as plain text)."""
    lines = escape(text).splitlines() or [""]
    return "\n".join(f"> {line}" if line.strip() else ">" for line in lines)
