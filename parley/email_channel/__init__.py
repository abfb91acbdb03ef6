"""Email: IMAP ingestion, SMTP sending, MIME parsing, threading into cases."""
