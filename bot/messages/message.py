"""What the sender posts: a plain-text fallback, optional Block Kit blocks, and what the
message's metadata carries besides the delivery's own fields."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    # More ``event_payload`` fields (the digest's themes …); never replaces the delivery's.
    metadata: Mapping[str, Any] = field(default_factory=dict)
    # The wordings (prompt ids) it shows: remembered as shown (``prompt_shown``) once it is
    # posted (``bot.sender``) or handed to Slack to post (``bot.prescheduler``), never
    # when it is only composed (a 429 shows nobody anything).
    shown: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a message needs a plain-text fallback")
        if len(self.blocks) > MAX_BLOCKS:
            raise ValueError(f"{len(self.blocks)} blocks; Slack allows {MAX_BLOCKS}")
        if len(self.text) > MAX_TEXT:
            raise ValueError(
                f"fallback text of {len(self.text)} characters; Slack allows {MAX_TEXT}"
            )
        for block in self.blocks:
            text = block.get("text")
            if isinstance(text, dict) and len(text.get("text", "")) > MAX_SECTION_TEXT:
                raise ValueError(
                    f"a {block.get('type')} text is over {MAX_SECTION_TEXT} characters"
                )

    def plain(self) -> Message:
        """The same message without blocks (the fallback when Slack rejects the blocks)."""
        return Message(text=self.text, metadata=self.metadata, shown=self.shown)
