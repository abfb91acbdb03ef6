"""Who may take a queue's tasks, and after how long a wait (skills, levels, overflow).

A queue's overflow rules split a task's life into stages: stage 0 from enqueue, stage k
once the k-th rule's time has passed. Stages only widen eligibility, so for each pair of
agent and queue one number says it all: the first stage at which the agent qualifies
(None: never). The router computes it once per agent and queue, and at routing time only
compares it with the task's age.
"""

from __future__ import annotations

from collections.abc import Mapping

from parley.platform.routing.model import Queue


def meets_requirements(skills: Mapping[str, int], required: Mapping[str, int], relax: int) -> bool:
    """Every required skill at (level - relax) or better; a relaxed level stays >= 1."""
    return all(skills.get(skill, 0) >= max(level - relax, 1) for skill, level in required.items())


def qualifying_stage(
    skills: Mapping[str, int], queue: Queue, queues: Mapping[str, Queue]
) -> int | None:
    """The first overflow stage of `queue` at which an agent with `skills` may take its
    tasks, or None if never."""
    relax = 0
    lenders: list[Queue] = []
    for stage in range(len(queue.overflow) + 1):
        if stage:
            rule = queue.overflow[stage - 1]
            relax = max(relax, rule.relax_levels_by)
            lenders.extend(queues[q] for q in rule.overflow_queue_ids if q in queues)
        if meets_requirements(skills, queue.required_skills, relax):
            return stage
        if any(meets_requirements(skills, lender.required_skills, 0) for lender in lenders):
            return stage
    return None


def skill_score(skills: Mapping[str, int], queue: Queue) -> int:
    """How well an agent matches a queue: the sum of their levels in its required skills."""
    return sum(skills.get(skill, 0) for skill in queue.required_skills)
