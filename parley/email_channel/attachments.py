"""Attachment bytes on disk, outside any web root (F-EM-5).

Files are named by the SHA-256 of their content under `<data_dir>/attachments/`, so a
message ingested twice (a retry after a crash) writes the same file again instead of a
second copy, and a name chosen by a sender never becomes a path. The metadata (the
sender's file name, type, size, content id, digest) goes into the message's headers.
Writing blocks: the service calls `store_attachments` in a thread.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from parley.email_channel.parsing import ParsedMessage


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments"


def store_attachments(data_dir: Path, parsed: ParsedMessage) -> list[dict[str, Any]]:
    """Write the kept attachments of `parsed` and return their metadata, in order."""
    stored: list[dict[str, Any]] = []
    for attachment in parsed.attachments:
        entry: dict[str, Any] = {
            "filename": attachment.filename,
            "content_type": attachment.content_type,
            "size": attachment.size,
            "content_id": attachment.content_id,
            "is_inline": attachment.is_inline,
            "sha256": None,
            "path": None,
        }
        if attachment.content is not None:
            digest = hashlib.sha256(attachment.content).hexdigest()
            relative = Path(digest[:2]) / digest
            _write_once(attachments_dir(data_dir) / relative, attachment.content)
            entry["sha256"] = digest
            entry["path"] = relative.as_posix()
        stored.append(entry)
    return stored


def _write_once(path: Path, content: bytes) -> None:
    if path.exists() and path.stat().st_size == len(content):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_bytes(content)
    partial.replace(path)  # atomic: a reader never sees half a file
