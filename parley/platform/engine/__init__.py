"""The engine: runs the agent state machine and the router for every channel, keeps
their state in the database, fires their timers and publishes what happened."""

from parley.platform.engine.service import Engine, EngineEvent, EnqueueRequest

__all__ = ["Engine", "EngineEvent", "EnqueueRequest"]
