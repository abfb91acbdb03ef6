"""The web edge of the platform: request dependencies, error shapes, health and metrics."""
