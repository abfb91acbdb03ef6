"""Queues and the router: the pure, in-memory routing core (ARCHITECTURE §5, F-RT-1..7)."""

from parley.platform.routing.domain import Router
from parley.platform.routing.model import (
    VOICE,
    Agent,
    Decision,
    Offer,
    OverflowRule,
    Queue,
    QueueClosed,
    QueueFull,
    QueueSnapshot,
    Strategy,
    Task,
    TaskTimedOut,
    WaitEstimate,
)

__all__ = [
    "VOICE",
    "Agent",
    "Decision",
    "Offer",
    "OverflowRule",
    "Queue",
    "QueueClosed",
    "QueueFull",
    "QueueSnapshot",
    "Router",
    "Strategy",
    "Task",
    "TaskTimedOut",
    "WaitEstimate",
]
