"""The agent desktop: one browser workspace for every channel."""
