"""Credentials we must be able to read back (IMAP and SMTP passwords), encrypted at rest.

Passwords of our own users are hashed (auth/passwords.py); a mailbox password has to be
sent to the mail server, so it is encrypted instead: Fernet (AES-128-CBC + HMAC-SHA256)
with a key derived by HKDF from the application's secret key. Leaking the database alone
then leaks no mailbox. Changing the secret key makes stored credentials unreadable:
`open` raises `SecretUnreadable` and the admin enters them again.
"""

from __future__ import annotations

import base64

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_PURPOSE = b"parley stored credentials v1"


class SecretUnreadable(Exception):
    """A stored secret was sealed with another key, or is damaged."""


class SecretBox:
    def __init__(self, secret_key: str) -> None:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE).derive(
            secret_key.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def seal(self, plaintext: str) -> str:
        """The encrypted form of `plaintext`, as ASCII text for a database column."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        """The plaintext of `sealed`; "" stays "" (no secret was set)."""
        if not sealed:
            return ""
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode("utf-8")
        except (InvalidToken, ValueError) as error:
            raise SecretUnreadable("the secret was sealed with another key") from error
