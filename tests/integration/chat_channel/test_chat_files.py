"""Files in a chat through a real uvicorn server, on SQLite and PostgreSQL (F-CH-6): the
visitor uploads with their key and the agent receives the message and downloads it; the
agent sends one back; downloads refused without the visitor's key, to another visitor,
another agent or another site; the widget's size and type limits, a type read from the
bytes and not the name, resends stored once; and the sniffing rules themselves."""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from parley.chat_channel import files
from parley.platform.models import ChatFile, ChatVisitor, ChatWidget, Interaction, Message, Role
from tests.integration.chat_channel import test_visitor_socket as visitor_socket
from tests.integration.chat_channel.test_agent_chat import _accepted_chat
from tests.integration.chat_channel.test_visitor_socket import SITE, Live, _hello, _next

live = visitor_socket.live  # the served application with a widget, as a fixture here too

PNG = (  # a 1x1 transparent PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe\x02\xfe\xa7"
    b"5\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def _docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<document/>")
    return buffer.getvalue()


async def _visitor_upload(
    live: Live,
    visitor_key: str,
    name: str,
    content: bytes,
    client_msg_id: str = "file-1",
    *,
    origin: str = SITE,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        return await client.post(
            f"/chat/widgets/{live.widget_key}/files",
            data={"visitor_id": visitor_key, "client_msg_id": client_msg_id},
            files={"file": (name, content, content_type)},
            headers={"Origin": origin},
        )


async def _visitor_download(
    live: Live, file_id: str, visitor_key: str | None, origin: str = SITE
) -> httpx.Response:
    headers = {"Origin": origin}
    if visitor_key is not None:
        headers[files.VISITOR_HEADER] = visitor_key
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        return await client.get(f"/chat/widgets/{live.widget_key}/files/{file_id}", headers=headers)


async def test_a_visitor_sends_a_file_and_the_agent_sees_and_downloads_it(live: Live) -> None:
    await live.add_user("anna")
    await live.add_user("piotr")
    await live.add_user("sam", Role.SUPERVISOR)
    anna, piotr, sam = [await live.login(name) for name in ("anna", "piotr", "sam")]
    async with live.agent_socket(anna) as desk, live.visitor() as ws:
        interaction_id = await _accepted_chat(live, desk, ws)
        visitor_key = await live.scalar(
            select(ChatVisitor.visitor_key)
            .join(Interaction, Interaction.contact_id == ChatVisitor.contact_id)
            .where(Interaction.id == interaction_id)
        )

        response = await _visitor_upload(live, visitor_key, "../../etc/screen shot.png", PNG)
        assert response.status_code == 201, response.text
        assert response.headers["access-control-allow-origin"] == SITE
        sent = response.json()
        assert sent["client_msg_id"] == "file-1" and sent["seq"] >= 2
        file = sent["file"]
        assert (file["name"], file["size"], file["content_type"], file["is_image"]) == (
            "screen shot.png",
            len(PNG),
            "image/png",
            True,
        )
        echo = await _next(ws, "message")
        while echo["seq"] != sent["seq"]:
            echo = await _next(ws, "message")
        assert echo["file"] == file and echo["text"] == "screen shot.png"
        forwarded = await _next(desk, "chat.message")
        while forwarded["seq"] != sent["seq"]:
            forwarded = await _next(desk, "chat.message")
        assert forwarded["file"] == file and forwarded["interaction_id"] == interaction_id

        transcript = (await anna.get(f"/api/chats/{interaction_id}/messages")).json()
        assert transcript["messages"][-1]["file"] == file
        url = f"/api/chats/{interaction_id}/files/{file['id']}"
        download = await anna.get(url)
        assert download.status_code == 200 and download.content == PNG
        assert download.headers["content-type"] == "image/png"
        assert download.headers["x-content-type-options"] == "nosniff"
        assert download.headers["content-disposition"].startswith("inline")
        assert "sandbox" in download.headers["content-security-policy"]
        assert (await sam.get(url)).status_code == 200  # a supervisor may
        assert (await piotr.get(url)).status_code == 403  # another agent may not
        async with httpx.AsyncClient(base_url=live.base_url) as stranger:
            assert (await stranger.get(url)).status_code == 401
        assert (await anna.get(f"/api/chats/{interaction_id}/files/f_nope")).status_code == 404

        # The visitor downloads it too, with their key; without it or another's: refused.
        mine = await _visitor_download(live, file["id"], visitor_key)
        assert mine.status_code == 200 and mine.content == PNG
        assert mine.headers["access-control-allow-origin"] == SITE
        assert (await _visitor_download(live, file["id"], None)).status_code == 403
        async with live.visitor() as other_ws:
            other_key = (await _hello(other_ws))["visitor_id"]
        assert (await _visitor_download(live, file["id"], other_key)).status_code == 403
        elsewhere = await _visitor_download(live, file["id"], visitor_key, "https://evil.example")
        assert elsewhere.status_code == 403
        assert "access-control-allow-origin" not in elsewhere.headers
        assert (await _visitor_download(live, "f_nope", visitor_key)).status_code == 404

        # A resend (same client_msg_id) is the same message and no second file.
        again = await _visitor_upload(live, visitor_key, "screen shot.png", PNG)
        assert again.status_code == 201 and again.json() == sent
        assert await live.scalar(select(func.count()).select_from(ChatFile)) == 1

        # The agent sends a document back; the visitor gets it on the socket.
        docx = _docx()
        reply = await anna.post(
            f"/api/chats/{interaction_id}/files",
            files={"file": ("invoice.docx", docx, "text/plain")},
        )
        assert reply.status_code == 201, reply.text
        back = reply.json()
        assert back["file"]["content_type"].endswith("wordprocessingml.document")
        assert back["file"]["is_image"] is False
        frame = await _next(ws, "message")
        while frame["seq"] != back["seq"]:
            frame = await _next(ws, "message")
        assert frame["author"]["kind"] == "agent" and frame["file"] == back["file"]
        document = await _visitor_download(live, back["file"]["id"], visitor_key)
        assert document.status_code == 200 and document.content == docx
        assert document.headers["content-disposition"].startswith("attachment")
        refused = await piotr.post(
            f"/api/chats/{interaction_id}/files", files={"file": ("a.pdf", PDF, "application/pdf")}
        )
        assert refused.status_code == 403
    for client in (anna, piotr, sam):
        await client.aclose()
    stored = await live.scalar(
        select(Message).where(Message.interaction_id == interaction_id).order_by(Message.seq.desc())
    )
    assert stored.headers["file"]["id"] == back["file"]["id"]


async def test_the_widget_limits_size_and_kinds_by_the_bytes_not_the_name(
    live: Live, settings: Any
) -> None:
    async with live.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(select(ChatWidget))
        widget.file_max_bytes = 1000
        widget.file_kinds = ["image", "text"]
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]

        too_big = await _visitor_upload(live, visitor_key, "big.txt", b"a" * 1001, "big")
        assert too_big.status_code == 413
        assert too_big.json()["error"]["code"] == "file_too_large"
        assert too_big.headers["access-control-allow-origin"] == SITE  # the widget can read why
        pdf = await _visitor_upload(live, visitor_key, "doc.pdf", PDF, "pdf")
        assert pdf.status_code == 415
        assert pdf.json()["error"]["code"] == "file_type_not_allowed"
        # An executable named like a picture is not a picture.
        fake = await _visitor_upload(
            live,
            visitor_key,
            "cat.png",
            b"MZ\x90\x00\x03\x00\x00\x00",
            "exe",
            content_type="image/png",
        )
        assert fake.status_code == 415
        empty = await _visitor_upload(live, visitor_key, "empty.txt", b"", "empty")
        assert empty.status_code == 400 and empty.json()["error"]["code"] == "bad_upload"
        text = await _visitor_upload(live, visitor_key, "notes.txt", "zażółć\n".encode(), "txt")
        assert text.status_code == 201, text.text
        assert text.json()["file"]["content_type"] == "text/plain; charset=utf-8"
        message = await _next(ws, "message")
        assert message["file"]["name"] == "notes.txt"

        # Bad requests: no such widget, a site it does not allow, an unknown visitor,
        # no file, a bad client_msg_id.
        async with httpx.AsyncClient(base_url=live.base_url) as client:
            unknown = await client.post(
                "/chat/widgets/w_nope/files",
                data={"visitor_id": visitor_key, "client_msg_id": "x"},
                files={"file": ("a.txt", b"hi", "text/plain")},
                headers={"Origin": SITE},
            )
            assert unknown.status_code == 404
            no_file = await client.post(
                f"/chat/widgets/{live.widget_key}/files",
                data={"visitor_id": visitor_key, "client_msg_id": "x"},
                files={"other": ("a.txt", b"hi", "text/plain")},
                headers={"Origin": SITE},
            )
            assert no_file.status_code == 400 and no_file.json()["error"]["code"] == "bad_upload"
        other_site = await _visitor_upload(
            live, visitor_key, "a.txt", b"hi", "o", origin="https://evil.example"
        )
        assert other_site.status_code == 403
        stranger = await _visitor_upload(live, "not-a-visitor", "a.txt", b"hi", "s")
        assert stranger.status_code == 403
        bad_id = await _visitor_upload(live, visitor_key, "a.txt", b"hi", "no spaces!")
        assert bad_id.status_code == 400
    assert await live.scalar(select(func.count()).select_from(ChatFile)) == 1
    stored = list((Path(settings.data_dir) / "chat_files").rglob("*"))
    assert [path.name for path in stored if path.is_file()] == [
        hashlib.sha256("zażółć\n".encode()).hexdigest()
    ]


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("a.png", PNG, ("image/png", "image")),
        ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", ("image/jpeg", "image")),
        ("a.gif", b"GIF89a\x01\x00", ("image/gif", "image")),
        ("a.webp", b"RIFF\x10\x00\x00\x00WEBPVP8 ", ("image/webp", "image")),
        ("a.bin", PDF, ("application/pdf", "pdf")),
        ("report.docx", _docx(), (files._OOXML_PARTS[0][1], "office")),
        ("old.xls", files._OLE_MAGIC + b"\x00" * 64, ("application/vnd.ms-excel", "office")),
        ("data.csv", b"a,b\n1,2\n", ("text/csv; charset=utf-8", "text")),
        ("a.txt", "привет".encode(), ("text/plain; charset=utf-8", "text")),
        ("a.zip", b"PK\x03\x04not really a zip", None),
        ("a.exe", b"MZ\x90\x00", None),
        ("a.txt", b"text\x00with a NUL", None),
        ("old.bin", files._OLE_MAGIC + b"\x00" * 64, None),
    ],
)
def test_sniffing_reads_the_bytes(
    name: str, content: bytes, expected: tuple[str, str] | None
) -> None:
    sniffed = files.sniff(content, name)
    assert (None if sniffed is None else (sniffed.content_type, sniffed.kind.value)) == expected


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\photo.jpg", "photo.jpg"),
        ("a\x00b\u202e.txt", "ab.txt"),
        ("..", "file"),
        ("", "file"),
        (None, "file"),
        ("x" * 300 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_file_names_are_cleaned(given: str | None, shown: str) -> None:
    assert files.clean_name(given) == shown


def test_the_protocol_doc_names_the_file_routes() -> None:
    doc = (Path(files.__file__).parent / "PROTOCOL.md").read_text()
    assert "/chat/widgets/{public_key}/files" in doc and files.VISITOR_HEADER in doc


async def test_an_admin_sets_the_limits_and_the_widget_configuration_says_them(
    live: Live,
) -> None:
    await live.add_user("ada", Role.ADMIN)
    ada = await live.login("ada")
    widget_id = await live.scalar(select(ChatWidget.id))
    url = f"/api/chat-widgets/{widget_id}"
    defaults = (await ada.get(url)).json()
    assert (defaults["file_max_bytes"], defaults["file_kinds"]) == (
        10 * 1024 * 1024,
        ["image", "pdf", "office", "text"],
    )
    changed = await ada.patch(url, json={"file_max_bytes": 2048, "file_kinds": ["pdf", "pdf"]})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["file_max_bytes"], changed.json()["file_kinds"]) == (2048, ["pdf"])
    for bad in ({"file_kinds": ["exe"]}, {"file_max_bytes": 10}, {"file_max_bytes": 10**9}):
        assert (await ada.patch(url, json=bad)).status_code == 422, bad
    await ada.aclose()
    async with httpx.AsyncClient(base_url=live.base_url) as client:
        config = await client.get(
            f"/chat/widgets/{live.widget_key}/config", headers={"Origin": SITE}
        )
    assert config.json()["files"] == {"max_bytes": 2048, "kinds": ["pdf"]}
    assert config.json()["file_texts"]["attach"] == "Attach a file"
    async with live.visitor() as ws:
        visitor_key = (await _hello(ws))["visitor_id"]
        picture = await _visitor_upload(live, visitor_key, "a.png", PNG, "png")
        assert picture.status_code == 415
