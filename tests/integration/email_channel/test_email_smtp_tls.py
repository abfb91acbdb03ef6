"""The mailbox's SMTP TlsMode is honoured against real servers: STARTTLS and TLS from the
first byte with a certificate the client verifies, and a STARTTLS mailbox refuses a
server that does not offer it rather than sending its password in clear."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from parley.email_channel.outbound import Delivery, DeliveryStatus, Draft, Outbox, SendMode
from parley.platform.config import Settings
from parley.platform.db import create_database
from parley.platform.models import Case, EmailAccount, Message, Queue, RoutingStrategy, TlsMode
from parley.platform.secret_box import SecretBox
from tests.conftest import free_port
from tests.integration.email_channel.conftest import SMTP_USERS, SmtpServer, body_of, start_smtp


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own authority), and its key."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_context(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return context


def trusting(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certificate[0]))


@pytest.fixture
def tls_server(
    request: pytest.FixtureRequest, certificate: tuple[Path, Path]
) -> Iterator[SmtpServer]:
    """parametrized with "starttls", "tls" or "plain"."""
    server = SmtpServer("127.0.0.1", free_port(), dict(SMTP_USERS))
    mode = request.param
    controller = start_smtp(
        server,
        tls_context=server_context(certificate) if mode != "plain" else None,
        implicit_tls=mode == "tls",
    )
    try:
        yield server
    finally:
        controller.stop()


async def _send(
    settings: Settings, server: SmtpServer, tls: TlsMode, context: ssl.SSLContext
) -> tuple[Delivery, Message]:
    """Store one email from a mailbox with this TLS mode and deliver it."""
    database = create_database(settings.resolved_database_url)
    try:
        async with database.transaction() as db:
            queue = Queue(name="Mail", channels=["email"], strategy=RoutingStrategy.LONGEST_IDLE)
            db.add(queue)
            await db.flush()
            account = EmailAccount(
                name="Support",
                queue_id=queue.id,
                imap_host="",
                imap_username="",
                smtp_host=server.host,
                smtp_port=server.port,
                smtp_username="parley-out",
                smtp_password_sealed=SecretBox(settings.resolved_secret_key()).seal(
                    SMTP_USERS["parley-out"]
                ),
                smtp_tls=tls,
                from_address="support@parley.test",
            )
            case = Case(subject="Hello", queue_id=queue.id)
            db.add_all([account, case])
            await db.flush()
            account_id, case_id = account.id, case.id
        outbox = Outbox(database, settings, timeout=10, tls_context=context)
        async with database.transaction() as db:
            message = await outbox.add(
                db,
                Draft(
                    account_id=account_id,
                    case_id=case_id,
                    interaction_id=None,
                    author_user_id=None,
                    mode=SendMode.NEW,
                    to=("ivan@example.org",),
                    subject="Hello [#1]",
                    text="Over TLS.",
                ),
            )
        delivery = await outbox.deliver(message.id)
        async with database.transaction() as db:
            stored = await db.get_one(Message, message.id)
        return delivery, stored
    finally:
        await database.dispose()


@pytest.mark.parametrize(
    ("tls_server", "mode"),
    [("starttls", TlsMode.STARTTLS), ("tls", TlsMode.TLS)],
    indirect=["tls_server"],
)
async def test_starttls_and_tls_deliver_with_a_verified_certificate(
    settings: Settings,
    tls_server: SmtpServer,
    mode: TlsMode,
    certificate: tuple[Path, Path],
) -> None:
    delivery, _ = await _send(settings, tls_server, mode, trusting(certificate))
    assert delivery.status is DeliveryStatus.SENT, delivery.error
    [received] = await tls_server.wait_for(1)
    assert received.login == "parley-out"
    assert body_of(received.parsed(), "plain").strip() == "Over TLS."


@pytest.mark.parametrize("tls_server", ["starttls"], indirect=True)
async def test_an_untrusted_certificate_is_refused_and_the_email_kept(
    settings: Settings, tls_server: SmtpServer
) -> None:
    delivery, stored = await _send(
        settings, tls_server, TlsMode.STARTTLS, ssl.create_default_context()
    )
    assert delivery.status is DeliveryStatus.FAILED
    assert stored.headers["delivery"]["status"] == "failed"
    assert tls_server.received == []


@pytest.mark.parametrize("tls_server", ["plain"], indirect=True)
async def test_a_starttls_mailbox_never_talks_in_clear_to_a_server_without_it(
    settings: Settings, tls_server: SmtpServer, certificate: tuple[Path, Path]
) -> None:
    delivery, _ = await _send(settings, tls_server, TlsMode.STARTTLS, trusting(certificate))
    assert delivery.status is DeliveryStatus.FAILED
    assert "STARTTLS" in (delivery.error or "").upper()
    assert tls_server.received == []
