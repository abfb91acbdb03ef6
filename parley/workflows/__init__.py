"""Workflow automations: triggers, conditions, actions, scheduler."""
