"""Heedful: a Slack app that helps leaders practise empathy in the moment."""

__version__ = "0.1.0"
