"""Read views of interactions for the desktop: a contact's history across channels and
the caller's work in hand (ringing offers, interactions in progress or in wrap-up).

The engine writes interactions; this package only reads them, joined with what a person
needs to see (queue names, agents, dispositions).
"""

from parley.platform.interactions.store import (
    HistoryEntry,
    WorkItem,
    agent_work,
    contact_history,
    work_items,
)

__all__ = ["HistoryEntry", "WorkItem", "agent_work", "contact_history", "work_items"]
