"""The SMTP adapter: hand one composed message to the mailbox's server, over aiosmtplib.

The outbox (outbound.py) speaks to the server only through `send_mail`. The account's
`TlsMode` is honoured exactly: `tls` wraps the connection from the first byte (SMTPS,
465), `starttls` requires the upgrade before anything else is said (a server that does
not offer it is refused rather than sent a password in clear), `none` never upgrades
(a relay on the same host, or tests). Certificates are verified against the system's
trust store unless the caller hands in its own `ssl.SSLContext`.

Every failure — refused connection, timeout, refused login, a recipient or the message
refused — becomes one `SmtpFailed` with the server's words and whether trying again
later can help (4xx replies and network trouble can; a 5xx refusal will not by itself).
"""

from __future__ import annotations

import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

import aiosmtplib

from parley.platform.models import TlsMode


class SmtpFailed(Exception):
    """The server did not take the message; `reason` is safe to show and to store."""

    def __init__(self, reason: str, *, is_temporary: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.is_temporary = is_temporary


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    host: str
    port: int
    tls: TlsMode
    username: str = ""
    password: str = ""
    timeout: float = 30.0
    tls_context: ssl.SSLContext | None = None  # None: the system's trusted authorities


async def send_mail(
    endpoint: SmtpEndpoint, message: EmailMessage, sender: str, recipients: Sequence[str]
) -> str:
    """Send `message` from the envelope `sender` to `recipients`; the server's reply."""
    if not endpoint.host:
        raise SmtpFailed("the mailbox has no SMTP server configured", is_temporary=False)
    if not recipients:
        raise SmtpFailed("the message has no recipient", is_temporary=False)
    context = endpoint.tls_context
    if context is None and endpoint.tls is not TlsMode.NONE:
        context = ssl.create_default_context()
    try:
        refused, reply = await aiosmtplib.send(
            message.as_bytes(policy=policy.SMTP),
            sender=sender,
            recipients=list(recipients),
            hostname=endpoint.host,
            port=endpoint.port,
            username=endpoint.username or None,
            password=endpoint.password if endpoint.username else None,
            use_tls=endpoint.tls is TlsMode.TLS,
            start_tls=endpoint.tls is TlsMode.STARTTLS,  # False: never upgrade
            tls_context=context,
            timeout=endpoint.timeout,
        )
    except aiosmtplib.SMTPRecipientsRefused as error:
        words = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in error.recipients)
        raise SmtpFailed(
            f"recipients refused: {words}", is_temporary=_all_temporary(error)
        ) from error
    except aiosmtplib.SMTPAuthenticationError as error:
        raise SmtpFailed(
            f"login refused: {error.code} {error.message}", is_temporary=False
        ) from error
    except aiosmtplib.SMTPResponseException as error:
        raise SmtpFailed(
            f"the server answered {error.code} {error.message}",
            is_temporary=400 <= error.code < 500,
        ) from error
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as error:
        raise SmtpFailed(
            f"cannot deliver to {endpoint.host}:{endpoint.port}: {error}", is_temporary=True
        ) from error
    if refused:  # some recipients took it, others did not: say which
        words = "; ".join(f"{address}: {r.code} {r.message}" for address, r in refused.items())
        raise SmtpFailed(f"recipients refused: {words}", is_temporary=False)
    return reply


def _all_temporary(error: aiosmtplib.SMTPRecipientsRefused) -> bool:
    return all(400 <= refusal.code < 500 for refusal in error.recipients)
