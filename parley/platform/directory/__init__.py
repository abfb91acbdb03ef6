"""The directory of colleagues an agent sees on the desktop: who is there, in which
team, and their live state from the engine."""

from parley.platform.directory.service import Colleague, colleagues

__all__ = ["Colleague", "colleagues"]
