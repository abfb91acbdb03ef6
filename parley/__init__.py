"""Parley: an omnichannel contact center (voice, chat, email, cases, workflows, campaigns)."""

__version__ = "0.1.0"
