"""Email: IMAP ingestion, SMTP sending, MIME parsing, threading into cases."""

from parley.email_channel.outbound import EmailNotSent, Outbox
from parley.email_channel.service import IngestPolicy, IngestResult, MailboxIngest

__all__ = ["EmailNotSent", "IngestPolicy", "IngestResult", "MailboxIngest", "Outbox"]
