"""Files in a chat, both ways (F-CH-6): upload over HTTP, checked, stored, served.

    POST /chat/widgets/{public_key}/files                the visitor sends a file
    GET  /chat/widgets/{public_key}/files/{file_id}      the visitor downloads one
    POST /api/chats/{interaction_id}/files               the agent sends a file
    GET  /api/chats/{interaction_id}/files/{file_id}     an agent downloads one

A file travels as a message of the conversation: its text is the file's name and its
`file` says name, size, type and id (protocol.File), so the visitor socket, the agent
socket and the transcript carry it like any message, acknowledged and deduplicated by
the same `client_msg_id`. The bytes never go through a websocket.

Nothing about a file is trusted: its type is read from its first bytes (`sniff`), never
from the browser's Content-Type or the name's extension (the extension only tells which
of the old OLE office formats a file is), and only the kinds the widget allows
(`ChatWidget.file_kinds`) up to its size (`ChatWidget.file_max_bytes`) are taken. The
bytes go under `<data_dir>/chat_files/`, outside any web root, named by their SHA-256
like email attachments (email_channel/attachments.py), so a name chosen by a sender never
becomes a path and a resend stores nothing twice. They are served only to the visitor of
the chat (by the widget key kept in their browser, sent as the `X-Parley-Visitor`
header, never in a URL) and to the agents who may read the chat (api.py's rule), with
the stored type, `nosniff` and a sandboxing CSP, as an attachment unless it is an image.

The visitor's routes are called from the customer's site (another origin): like the
widget's configuration they answer the widget's allowed origins only, with CORS headers
naming that origin, errors included, so the widget can show why a file was refused.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel
from sqlalchemy import select
from starlette.datastructures import UploadFile

from parley.chat_channel import domain, protocol
from parley.chat_channel.api import authorized_chat, chat_service, rate_limiter
from parley.chat_channel.service import Upload
from parley.platform.errors import DomainError, Forbidden, NotFound
from parley.platform.models import ChatFile, ChatVisitor, ChatWidget, Interaction
from parley.platform.runtime import Runtime
from parley.platform.web.deps import AnyUser, Public
from parley.platform.web.errors import error_body

log = structlog.get_logger(__name__)

router = APIRouter(tags=["chat files"])

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
VISITOR_HEADER = "X-Parley-Visitor"
# Room for the multipart framing and the form's small fields around the file itself.
_FORM_OVERHEAD = 64 * 1024
_MAX_NAME_CHARS = 255
_SNIFF_TEXT_BYTES = 64 * 1024


class FileKind(StrEnum):
    """What a widget may allow (ChatWidget.file_kinds)."""

    IMAGE = "image"
    PDF = "pdf"
    OFFICE = "office"
    TEXT = "text"


ALL_KINDS = tuple(FileKind)


# --- errors -----------------------------------------------------------------------------


class FileTooLarge(DomainError):
    status_code = 413

    def __init__(self, max_bytes: int) -> None:
        super().__init__("file_too_large", f"A file may have {max_bytes} bytes at most.")
        self.max_bytes = max_bytes


class FileTypeNotAllowed(DomainError):
    status_code = 415

    def __init__(self, allowed: tuple[str, ...]) -> None:
        kinds = ", ".join(allowed) or "none"
        super().__init__(
            "file_type_not_allowed", f"This kind of file may not be sent here (allowed: {kinds})."
        )


class BadUpload(DomainError):
    """A form without one file (and, from the visitor, their id and the message's)."""

    def __init__(self, message: str) -> None:
        super().__init__("bad_upload", message)


class UploadRateLimited(DomainError):
    status_code = 429

    def __init__(self) -> None:
        super().__init__("rate_limited", "Too many messages at once. Please wait a moment.")


# --- what a file is ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sniffed:
    content_type: str
    kind: FileKind


_MAGIC: tuple[tuple[bytes, Sniffed], ...] = (
    (b"\x89PNG\r\n\x1a\n", Sniffed("image/png", FileKind.IMAGE)),
    (b"\xff\xd8\xff", Sniffed("image/jpeg", FileKind.IMAGE)),
    (b"GIF87a", Sniffed("image/gif", FileKind.IMAGE)),
    (b"GIF89a", Sniffed("image/gif", FileKind.IMAGE)),
    (b"%PDF-", Sniffed("application/pdf", FileKind.PDF)),
)
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_OLE_BY_EXTENSION = {
    ".doc": "application/msword",
    ".xls": "application/vnd.ms-excel",
    ".ppt": "application/vnd.ms-powerpoint",
}
_OOXML_PARTS = (
    (
        "word/document.xml",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    ("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    (
        "ppt/presentation.xml",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
)
_ODF_TYPES = frozenset(
    {
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
    }
)


def sniff(content: bytes, filename: str) -> Sniffed | None:
    """The type of `content` by its bytes, or None for anything not image, pdf, office
    or text. Office files are zip (OOXML, ODF: read from their parts) or OLE containers
    (whose format the name's extension tells)."""
    for magic, sniffed in _MAGIC:
        if content.startswith(magic):
            return sniffed
    if content[:4] == b"RIFF" and content[8:12] == b"WEBP":
        return Sniffed("image/webp", FileKind.IMAGE)
    if content.startswith(b"PK\x03\x04"):
        return _sniff_zip(content)
    if content.startswith(_OLE_MAGIC):
        found = _OLE_BY_EXTENSION.get(Path(filename).suffix.lower())
        return Sniffed(found, FileKind.OFFICE) if found else None
    if _is_text(content):
        subtype = "csv" if filename.lower().endswith(".csv") else "plain"
        return Sniffed(f"text/{subtype}; charset=utf-8", FileKind.TEXT)
    return None


def _sniff_zip(content: bytes) -> Sniffed | None:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = set(archive.namelist())
            for part, content_type in _OOXML_PARTS:
                if part in names and "[Content_Types].xml" in names:
                    return Sniffed(content_type, FileKind.OFFICE)
            if "mimetype" in names:
                declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
                if declared in _ODF_TYPES:
                    return Sniffed(declared, FileKind.OFFICE)
    except (zipfile.BadZipFile, ValueError, OSError, RuntimeError, NotImplementedError):
        return None
    return None  # another archive: not a document


def _is_text(content: bytes) -> bool:
    """UTF-8 without NUL or other control characters than tab and line breaks (the
    beginning is enough: a cut multi-byte character at the end is forgiven)."""
    head = content[:_SNIFF_TEXT_BYTES]
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(content) <= _SNIFF_TEXT_BYTES or exc.start < len(head) - 3:
            return False
        text = head[: exc.start].decode("utf-8")
    return not any(ord(char) < 32 and char not in "\t\n\r\f" for char in text)


def clean_name(name: str | None) -> str:
    """The sender's file name as shown: its last path part, without control characters,
    at most 255 characters; "file" when nothing is left."""
    base = re.split(r"[\\/]", name or "")[-1]
    base = "".join(char for char in base if unicodedata.category(char)[0] != "C").strip()
    base = base.strip(".") and base  # "..", "." are no names
    if len(base) > _MAX_NAME_CHARS:
        _stem, dot, extension = base.rpartition(".")
        keep = extension if dot and len(extension) <= 16 else ""
        base = base[: _MAX_NAME_CHARS - len(keep) - 1] + "." + keep if keep else base[:255]
    return base or "file"


# --- the rules of a widget and the bytes on disk -----------------------------------------


@dataclass(frozen=True, slots=True)
class FileRules:
    max_bytes: int = DEFAULT_MAX_BYTES
    kinds: tuple[str, ...] = tuple(ALL_KINDS)

    @classmethod
    def of(cls, widget: ChatWidget) -> FileRules:
        return cls(widget.file_max_bytes, tuple(widget.file_kinds))


def chat_files_dir(data_dir: Path) -> Path:
    return data_dir / "chat_files"


def stored_path(data_dir: Path, sha256: str) -> Path:
    return chat_files_dir(data_dir) / sha256[:2] / sha256


def check_and_store(data_dir: Path, rules: FileRules, filename: str, content: bytes) -> Upload:
    """Check `content` against the widget's rules and write it once, by digest; the
    upload for its message. Blocking (zip reading, disk): call it in a thread."""
    if not content:
        raise BadUpload("The file is empty.")
    if len(content) > rules.max_bytes:
        raise FileTooLarge(rules.max_bytes)
    sniffed = sniff(content, filename)
    if sniffed is None or sniffed.kind.value not in rules.kinds:
        raise FileTypeNotAllowed(rules.kinds)
    digest = hashlib.sha256(content).hexdigest()
    path = stored_path(data_dir, digest)
    if not (path.exists() and path.stat().st_size == len(content)):
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}.partial")
        partial.write_bytes(content)
        partial.replace(path)  # atomic: a reader never sees half a file
    ref = domain.FileRef(
        "f_" + secrets.token_urlsafe(18), filename, len(content), sniffed.content_type
    )
    return Upload(ref, digest)


async def _read_upload(request: Request, rules: FileRules) -> tuple[UploadFile, dict[str, str]]:
    """The form's one file and its text fields; too large a request is refused before
    its body is read (413)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > rules.max_bytes + _FORM_OVERHEAD:
        raise FileTooLarge(rules.max_bytes)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadUpload("Send the file as multipart/form-data.")
    form = await request.form(max_files=1, max_fields=10)
    upload = form.get("file")
    if not isinstance(upload, UploadFile):
        raise BadUpload("The form has no field `file` with a file.")
    fields = {key: value for key, value in form.items() if isinstance(value, str)}
    return upload, fields


async def _content_of(upload: UploadFile, rules: FileRules) -> bytes:
    content = await upload.read(rules.max_bytes + 1)
    if len(content) > rules.max_bytes:
        raise FileTooLarge(rules.max_bytes)
    return content


def _file_response(runtime: Runtime, row: ChatFile, headers: dict[str, str]) -> FileResponse:
    path = stored_path(runtime.settings.data_dir, row.sha256)
    if not path.is_file():
        log.error(
            "chat_file.missing_bytes", file_id=row.public_id, interaction_id=row.interaction_id
        )
        raise NotFound("File", row.public_id)
    return FileResponse(
        path,
        media_type=row.content_type,
        filename=row.filename,
        content_disposition_type="inline"
        if row.content_type.startswith("image/")
        else "attachment",
        headers={
            "Cache-Control": "private, max-age=3600",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "X-Content-Type-Options": "nosniff",
            **headers,
        },
    )


class VisitorFileOut(BaseModel):
    client_msg_id: str
    seq: int
    file: protocol.File


class AgentFileOut(BaseModel):
    seq: int
    file: protocol.File


# --- the visitor's routes ----------------------------------------------------------------


def _cors(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


def _error(exc: DomainError, origin: str | None) -> JSONResponse:
    return JSONResponse(
        error_body(exc.code, exc.message),
        status_code=exc.status_code,
        headers=_cors(origin) if origin else {},
    )


async def _widget_for(runtime: Runtime, public_key: str, origin: str | None) -> ChatWidget:
    async with runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget).where(ChatWidget.public_key == public_key))
    if widget is None or not widget.is_active:
        raise NotFound("Chat widget", public_key[:64])
    if origin is None or origin not in widget.allowed_origins:
        log.info("chat_file.refused_origin", widget_id=widget.id, origin=(origin or "")[:200])
        raise Forbidden("This site may not use this chat widget.")
    return widget


async def _visitor_of(runtime: Runtime, widget: ChatWidget, visitor_key: str) -> ChatVisitor:
    async with runtime.database.transaction() as db:
        visitor = await db.scalar(
            select(ChatVisitor).where(
                ChatVisitor.widget_id == widget.id, ChatVisitor.visitor_key == visitor_key[:64]
            )
        )
    if visitor is None:
        raise Forbidden("Unknown visitor: open the chat first.")
    return visitor


@router.post("/chat/widgets/{public_key}/files", dependencies=[Public], status_code=201)
async def post_visitor_file(public_key: str, request: Request) -> Response:
    """The visitor sends a file into their chat (form fields `visitor_id`, the widget's
    key for the visitor; `client_msg_id`, a resend carries the same one; `file`). The
    answer is the message's ack; its `message` frame follows on the socket."""
    runtime: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    allowed_origin: str | None = None
    try:
        widget = await _widget_for(runtime, public_key, origin)
        allowed_origin = origin
        rules = FileRules.of(widget)
        upload_file, fields = await _read_upload(request, rules)
        visitor_key = fields.get("visitor_id", "")
        client_msg_id = fields.get("client_msg_id", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", client_msg_id):
            raise BadUpload("`client_msg_id` must be 1 to 64 of A-Z, a-z, 0-9, _ and -.")
        visitor = await _visitor_of(runtime, widget, visitor_key)
        ip = request.client.host if request.client else ""
        if rate_limiter(request.app).check(visitor.visitor_key, ip, runtime.clock.now()):
            raise UploadRateLimited()
        content = await _content_of(upload_file, rules)
        name = clean_name(upload_file.filename)
        upload = await asyncio.to_thread(
            check_and_store, runtime.settings.data_dir, rules, name, content
        )
        taken = await chat_service(request.app).receive_message(
            visitor.id, client_msg_id, name, upload
        )
    except DomainError as exc:
        log.info("chat_file.visitor_upload_refused", code=exc.code, widget=public_key[:64])
        return _error(exc, allowed_origin)
    message = taken.receipt.message
    if message.file is None:  # the id of a text message, sent again with a file
        return _error(BadUpload("This client_msg_id is taken by another message."), origin)
    # A resend (same client_msg_id) is answered with the file taken the first time.
    file = message.file
    log.info(
        "chat_file.sent_by_visitor",
        interaction_id=taken.interaction_id,
        file_id=file.file_id,
        size=file.size,
        content_type=file.content_type,
    )
    body = VisitorFileOut(client_msg_id=client_msg_id, seq=message.seq, file=protocol.File.of(file))
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers=_cors(origin or ""))


@router.options("/chat/widgets/{public_key}/files/{file_id}", dependencies=[Public])
async def preflight_visitor_file(public_key: str, request: Request) -> Response:
    """The browser's CORS preflight for the download (it sends the visitor's header)."""
    runtime: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    try:
        await _widget_for(runtime, public_key, origin)
    except DomainError as exc:
        return _error(exc, None)
    return Response(
        status_code=204,
        headers={
            **_cors(origin or ""),
            "Access-Control-Allow-Methods": "GET",
            "Access-Control-Allow-Headers": VISITOR_HEADER,
            "Access-Control-Max-Age": "600",
        },
    )


@router.get("/chat/widgets/{public_key}/files/{file_id}", dependencies=[Public])
async def get_visitor_file(
    public_key: str,
    file_id: str,
    request: Request,
    x_parley_visitor: Annotated[str | None, Header()] = None,
) -> Response:
    """A file of one of the visitor's chats: 403 without the visitor's key or for a file
    of someone else's chat, 404 for no such file."""
    runtime: Runtime = request.app.state.runtime
    origin = request.headers.get("origin")
    allowed_origin: str | None = None
    try:
        widget = await _widget_for(runtime, public_key, origin)
        allowed_origin = origin
        if not x_parley_visitor:
            raise Forbidden(f"Send the visitor's id in the {VISITOR_HEADER} header.")
        visitor = await _visitor_of(runtime, widget, x_parley_visitor)
        async with runtime.database.transaction() as db:
            row = await db.scalar(select(ChatFile).where(ChatFile.public_id == file_id[:40]))
            if row is None:
                raise NotFound("File", file_id[:40])
            interaction = await db.get_one(Interaction, row.interaction_id)
            is_theirs = (
                visitor.contact_id is not None
                and interaction.contact_id == visitor.contact_id
                and interaction.attributes.get("chat_widget_id") == widget.id
            )
        if not is_theirs:
            raise Forbidden("This file belongs to another chat.")
        return _file_response(runtime, row, _cors(origin or ""))
    except DomainError as exc:
        return _error(exc, allowed_origin)


# --- the agent's routes ------------------------------------------------------------------


async def _rules_of_chat(runtime: Runtime, interaction_id: int) -> FileRules:
    async with runtime.database.transaction() as db:
        interaction = await db.get(Interaction, interaction_id)
        widget_id: Any = interaction.attributes.get("chat_widget_id") if interaction else None
        widget = await db.get(ChatWidget, widget_id) if widget_id is not None else None
    return FileRules.of(widget) if widget is not None else FileRules()


@router.post("/api/chats/{interaction_id}/files", tags=["chat"], status_code=201)
async def post_agent_file(interaction_id: int, request: Request, me: AnyUser) -> AgentFileOut:
    """Send a file (form field `file`) to the visitor, within the widget's limits
    (413 `file_too_large`, 415 `file_type_not_allowed`; 409 `chat_closed`)."""
    service = await authorized_chat(request, me, interaction_id)
    runtime: Runtime = request.app.state.runtime
    rules = await _rules_of_chat(runtime, interaction_id)
    upload_file, _fields = await _read_upload(request, rules)
    content = await _content_of(upload_file, rules)
    name = clean_name(upload_file.filename)
    upload = await asyncio.to_thread(
        check_and_store, runtime.settings.data_dir, rules, name, content
    )
    seq = await service.post_agent_message(interaction_id, me.user_id, name, upload)
    log.info(
        "chat_file.sent_by_agent",
        interaction_id=interaction_id,
        file_id=upload.ref.file_id,
        size=upload.ref.size,
        content_type=upload.ref.content_type,
    )
    return AgentFileOut(seq=seq, file=protocol.File.of(upload.ref))


@router.get("/api/chats/{interaction_id}/files/{file_id}", tags=["chat"])
async def get_agent_file(
    interaction_id: int, file_id: str, request: Request, me: AnyUser
) -> FileResponse:
    """A file of the chat, for the agent who has it or a supervisor (403 otherwise)."""
    await authorized_chat(request, me, interaction_id)
    runtime: Runtime = request.app.state.runtime
    async with runtime.database.transaction() as db:
        row = await db.scalar(
            select(ChatFile).where(
                ChatFile.public_id == file_id[:40], ChatFile.interaction_id == interaction_id
            )
        )
    if row is None:
        raise NotFound("File", file_id[:40])
    return _file_response(runtime, row, {})
