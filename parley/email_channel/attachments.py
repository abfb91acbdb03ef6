"""Attachment bytes on disk, outside any web root (F-EM-5).

Files are named by the SHA-256 of their content under `<data_dir>/attachments/`, so a
message ingested twice (a retry after a crash) writes the same file again instead of a
second copy, and a name chosen by a sender never becomes a path. The metadata (the
sender's file name, type, size, content id, digest) goes into the message's headers.
Writing blocks: the service calls `store_attachments` in a thread. Outgoing mail keeps
its attachments the same way (`store_files`), and a retry reads them back (`read_files`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from parley.email_channel.compose import OutgoingAttachment
from parley.email_channel.parsing import ParsedMessage

# What a stored HTML body has where the sender's had `cid:<id>`: a path naming the
# stored file by digest, which the thread view (api.py) replaces with the URL that
# serves it to whoever may read the message. By itself it serves nothing.
INLINE_IMAGE_PREFIX = "/api/email-inline/"


def attachments_dir(data_dir: Path) -> Path:
    return data_dir / "attachments"


def inline_image_ref(sha256: str) -> str:
    return f"{INLINE_IMAGE_PREFIX}{sha256}"


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


def store_files(data_dir: Path, files: Sequence[OutgoingAttachment]) -> list[dict[str, Any]]:
    """Write the attachments of an outgoing mail (blocking: call it in a thread) and
    return their metadata in the shape ingested attachments have."""
    stored: list[dict[str, Any]] = []
    for attachment in files:
        digest = hashlib.sha256(attachment.content).hexdigest()
        relative = Path(digest[:2]) / digest
        _write_once(attachments_dir(data_dir) / relative, attachment.content)
        stored.append(
            {
                "filename": attachment.filename,
                "content_type": attachment.content_type,
                "size": len(attachment.content),
                "content_id": attachment.content_id,
                "is_inline": attachment.is_inline,
                "sha256": digest,
                "path": relative.as_posix(),
            }
        )
    return stored


def read_files(data_dir: Path, entries: Sequence[dict[str, Any]]) -> list[OutgoingAttachment]:
    """The stored attachments named by `entries` (metadata from `store_files` or from
    ingestion), ready to send again; entries without content (dropped for their size
    when they came in) are left out. Blocking: call it in a thread."""
    files: list[OutgoingAttachment] = []
    for entry in entries:
        if not entry.get("path"):
            continue
        content = (attachments_dir(data_dir) / str(entry["path"])).read_bytes()
        files.append(
            OutgoingAttachment(
                filename=str(entry.get("filename") or "attachment"),
                content_type=str(entry.get("content_type") or "application/octet-stream"),
                content=content,
                content_id=entry.get("content_id"),
                is_inline=bool(entry.get("is_inline")),
            )
        )
    return files
