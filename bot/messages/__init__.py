"""Messages: the words (``prompts``) and the pure Block Kit builders (``blocks``)."""

from bot.messages.message import Message

__all__ = ["Message"]
