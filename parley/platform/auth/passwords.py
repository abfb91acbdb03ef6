"""Password hashing with Argon2id (argon2-cffi's defaults follow RFC 9106).

The cost is a setting (`PARLEY_ARGON2_TIME_COST`, `PARLEY_ARGON2_MEMORY_KIB`) applied at
start-up by `configure`; hashes made with other costs still verify and are re-hashed
at the next login.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_PASSWORD_LENGTH = 8


class _Hashing:
    def __init__(self, hasher: PasswordHasher) -> None:
        self.hasher = hasher
        # Verifying against this keeps a login for an unknown user as slow as for a known
        # one, so response times do not reveal which usernames exist.
        self.dummy_hash = hasher.hash("parley-timing-equaliser")


_hashing = _Hashing(PasswordHasher())


def configure(*, time_cost: int, memory_kib: int) -> None:
    global _hashing
    current = _hashing.hasher
    if (current.time_cost, current.memory_cost) != (time_cost, memory_kib):
        _hashing = _Hashing(PasswordHasher(time_cost=time_cost, memory_cost=memory_kib))


def hash_password(password: str) -> str:
    return _hashing.hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        is_valid = _hashing.hasher.verify(password_hash or _hashing.dummy_hash, password)
    except (VerificationError, InvalidHashError):
        return False
    return is_valid and bool(password_hash)


def needs_rehash(password_hash: str) -> bool:
    return _hashing.hasher.check_needs_rehash(password_hash)
