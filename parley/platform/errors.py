"""Typed domain errors. Each has a stable `code` and a human message; the web edge maps
them to one error shape: `{"error": {"code": ..., "message": ...}}`."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class NotFound(DomainError):
    status_code = 404

    def __init__(self, what: str, key: object) -> None:
        super().__init__("not_found", f"{what} {key} does not exist.")


class Conflict(DomainError):
    status_code = 409


class Forbidden(DomainError):
    status_code = 403

    def __init__(self, message: str = "Your role may not do this.") -> None:
        super().__init__("forbidden", message)


class InvalidTransition(Conflict):
    """An event that the current state does not allow (e.g. accepting an unknown offer).

    Raised by the pure state machines before anything changes, so the caller's state is
    still the one it had."""

    def __init__(self, message: str, code: str = "invalid_transition") -> None:
        super().__init__(code, message)
