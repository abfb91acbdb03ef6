"""Outbound campaigns: lists, DNC, calling windows, retries, dialer modes, pacing."""
