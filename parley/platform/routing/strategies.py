"""Which of the free agents who may take a task gets it: one rule per routing strategy.

Every rule is a total order ending in the agent id, so the same inputs always give the
same agent (no randomness, reproducible tests and replays):

- longest idle: the earliest `idle_since` (the router moves it to the time the agent
  last finished an interaction).
- least occupied: the fewest interactions in hand (ringing offers included), then
  longest idle.
- best skill: the highest sum of levels in the queue's required skills, then longest idle.
- round robin: per queue, the next agent id after the one last offered, wrapping around.
- ring all: every candidate, by id.

The router passes what it knows of the candidates as lookups, so a strategy only reads
the facts it orders by.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

from parley.platform.routing.model import Strategy


def choose_agents(
    strategy: Strategy,
    candidates: Collection[str],
    *,
    idle_key: Mapping[str, tuple[int, str]],
    skill_score: Mapping[str, int],
    in_hand: Callable[[str], int],
    last_agent_id: str | None,
) -> tuple[str, ...]:
    """The agent(s) to offer the task to; `candidates` (agent ids) is never empty.

    `idle_key` maps an agent to (idle since, agent id), the longest-idle order itself.
    """
    if strategy is Strategy.RING_ALL:
        return tuple(sorted(candidates))
    if len(candidates) == 1:
        return (next(iter(candidates)),)
    if strategy is Strategy.ROUND_ROBIN:
        return (_next_in_rotation(candidates, last_agent_id),)
    if strategy is Strategy.LEAST_OCCUPIED:
        chosen = min(candidates, key=lambda a: (in_hand(a), idle_key[a]))
    elif strategy is Strategy.BEST_SKILL:
        chosen = min(candidates, key=lambda a: (-skill_score[a], idle_key[a]))
    else:
        chosen = min(candidates, key=idle_key.__getitem__)
    return (chosen,)


def _next_in_rotation(candidates: Collection[str], last_agent_id: str | None) -> str:
    if last_agent_id is not None:
        after = min((a for a in candidates if a > last_agent_id), default=None)
        if after is not None:
            return after
    return min(candidates)
