"""The admin console and supervisor views."""
