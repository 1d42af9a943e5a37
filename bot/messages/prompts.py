"""The prompt library: every user-facing word, loaded from the ``prompts`` package.

Each TOML table with ``text`` or ``variants`` is one prompt; its id is the dotted table
path (``home.title``). Every prompt names the practices it serves (``practices``) and
may name the meeting kinds it fits (``kinds``). Placeholders are ``{name}``.
"""

from __future__ import annotations

import string
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

# The nine practices in the order the design names them (three practices, then the
# behaviours they lead to); rotation breaks ties in this order. `general` marks words
# that serve every practice (frames, buttons, notes).
PRACTICE_ORDER = (
    "observe-listen-ask",
    "be-present",
    "single-tasking",
    "check-understanding",
    "appreciation",
    "slow-down",
    "ask-feedback",
    "body-language",
    "feelings",
)
PRACTICES = frozenset({"general", *PRACTICE_ORDER})
# Files of ``prompts/`` that hold words Heedful listens for, not words it says: each has its
# own loader (``lexicon.toml``: ``bot.themes``; ``commitments.toml``: ``bot.commitments``), and
# the prompt library skips them.
WORD_LISTS = frozenset({"lexicon.toml", "commitments.toml"})


class PromptError(LookupError):
    """An unknown prompt id, or a placeholder left unfilled."""


@dataclass(frozen=True)
class Prompt:
    id: str
    variants: tuple[str, ...]
    practices: tuple[str, ...]
    kinds: tuple[str, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def placeholders(self) -> set[str]:
        return {
            name
            for variant in self.variants
            for _, name, _, _ in string.Formatter().parse(variant)
            if name
        }

    def render(self, variant: int = 0, /, **values: Any) -> str:
        template = self.variants[variant % len(self.variants)]
        try:
            return template.format(**values)
        except (KeyError, IndexError) as exc:
            raise PromptError(f"prompt {self.id} needs {exc}") from None


class Prompts:
    """A loaded library, keyed by prompt id."""

    def __init__(self, prompts: Mapping[str, Prompt]) -> None:
        self._prompts = dict(prompts)

    def __getitem__(self, prompt_id: str) -> Prompt:
        try:
            return self._prompts[prompt_id]
        except KeyError:
            raise PromptError(f"no prompt {prompt_id!r} in prompts/") from None

    def __iter__(self) -> Iterator[Prompt]:
        return iter(self._prompts.values())

    def __contains__(self, prompt_id: object) -> bool:
        return prompt_id in self._prompts

    def text(self, prompt_id: str, /, **values: Any) -> str:
        """The first variant of a prompt, filled in."""
        return self[prompt_id].render(0, **values)


def parse_prompts(documents: Mapping[str, str]) -> Prompts:
    """Parse TOML documents (file name → text) into a library. Pure."""
    found: dict[str, Prompt] = {}
    for name, text in sorted(documents.items()):
        for prompt in _walk(tomllib.loads(text), ()):
            if prompt.id in found:
                raise PromptError(f"prompt {prompt.id} is defined twice ({name})")
            found[prompt.id] = prompt
    return Prompts(found)


def _walk(table: Mapping[str, Any], path: tuple[str, ...]) -> Iterator[Prompt]:
    # A prompt is a table whose `text` is a string or whose `variants` is a list; a
    # sub-table that happens to be named "text" ([form.text]) is just a deeper prompt.
    if isinstance(table.get("text"), str) or isinstance(table.get("variants"), list):
        variants = table.get("variants") or [table["text"]]
        yield Prompt(
            id=".".join(path),
            variants=tuple(variants),
            practices=tuple(table.get("practices") or ()),
            kinds=tuple(table.get("kinds") or ()),
            extra={
                k: v
                for k, v in table.items()
                if k not in {"text", "variants", "practices", "kinds"}
            },
        )
        return
    for key, value in table.items():
        if isinstance(value, dict):
            yield from _walk(value, (*path, key))
        elif path and key not in {"practices", "kinds"}:
            raise PromptError(f"prompts: {'.'.join((*path, key))} is neither a prompt nor a table")


@cache
def load_prompts() -> Prompts:
    """The library shipped in the ``prompts`` package (read once per process)."""
    folder = resources.files("prompts")
    documents = {
        entry.name: entry.read_text(encoding="utf-8")
        for entry in folder.iterdir()
        if entry.name.endswith(".toml") and entry.name not in WORD_LISTS
    }
    return parse_prompts(documents)
