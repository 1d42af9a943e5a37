"""What the providers share (``bot.sync.oauth``) names its words by the provider
(``f"{name}.page.bad_state"``), which the scan of tests/test_prompts.py cannot read: every
such word exists for every provider."""

from __future__ import annotations

import pytest

from bot.messages.prompts import load_prompts
from bot.sync import google, microsoft, oauth

WORDS = (
    "page.not_configured",
    "page.bad_state",
    "page.declined",
    "page.failed",
    "page.connected",
    "connected.none",
    "connected.one",
    "connected.many",
    "broken.summary",
    "reconnect",
    "account_unknown",
)


@pytest.mark.parametrize("provider", [google.GOOGLE, microsoft.MICROSOFT], ids=lambda p: p.name)
def test_every_word_the_shared_steps_name_exists_for_each_provider(
    provider: oauth.Provider,
) -> None:
    library = load_prompts()
    for words in WORDS:
        if words.startswith("page."):
            title = oauth.CONNECTED_TITLE if words == "page.connected" else None
            page = oauth.render_page(200, library, f"{provider.name}.{words}", title=title)
            assert "<h1>" in page.html and page.status == 200
        else:
            assert library.text(f"{provider.name}.{words}", name="x", count=2), words


def test_a_notice_names_its_provider_in_its_button() -> None:
    notice = oauth.build_connection_notice(
        load_prompts(), "microsoft.broken", account="ana@example.com", link="https://x.test/s"
    )
    (button,) = [e for b in notice.blocks if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == "microsoft_reconnect" and button["url"] == "https://x.test/s"
    assert "ana@example.com" in notice.text
