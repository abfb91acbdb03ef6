"""The agent's own statistics for the desktop (F-RP-2): handled work, handle time, time
per state and the break budget, next to their team's averages."""

from parley.platform.stats.domain import (
    BreakBudget,
    Handled,
    HandledSummary,
    Interval,
    TeamAverage,
    break_budget,
    break_seconds,
    not_ready_by_reason,
    summarize_handled,
    team_average,
    time_in_states,
)
from parley.platform.stats.service import AgentStats, agent_stats, day_bounds

__all__ = [
    "AgentStats",
    "BreakBudget",
    "Handled",
    "HandledSummary",
    "Interval",
    "TeamAverage",
    "agent_stats",
    "break_budget",
    "break_seconds",
    "day_bounds",
    "not_ready_by_reason",
    "summarize_handled",
    "team_average",
    "time_in_states",
]
