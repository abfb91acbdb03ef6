"""Files in a chat in real browsers (F-CH-6): a visitor on the shop's site attaches a
picture with the widget's button, the agent sees its thumbnail on the desktop and
downloads it; the agent sends a document back, which the visitor downloads; a file
dropped on the widget's window is sent too; a file over the widget's limit is refused
with a clear message before it is uploaded, and one the server refuses by its bytes
says why."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.models import ChatWidget
from tests.e2e import test_widget as widget_tests
from tests.e2e.conftest import Parley, Screens, log_in
from tests.e2e.test_desktop import go_ready
from tests.e2e.test_widget import Site, _open_chat

site = widget_tests.site  # the shop on another origin, with the widget's snippet
visitor = widget_tests.visitor  # the shop's visitor in a browser profile of their own

PNG = (  # a 1x1 red PNG
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00"
    b"\x00\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe"
    b"\x92\xef\x00\x00\x00\x00IEND\xaeB`\x82"
)
PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
LIMIT = 20_000

_DROP = """(element, text) => {
  const data = new DataTransfer();
  data.items.add(new File([text], "notes.txt", { type: "text/plain" }));
  for (const type of ["dragenter", "dragover", "drop"]) {
    const init = { dataTransfer: data, bubbles: true, cancelable: true };
    element.dispatchEvent(new DragEvent(type, init));
  }
}"""


async def _saved(download: Any) -> bytes:
    return await asyncio.to_thread(Path(await download.path()).read_bytes)


async def test_a_visitor_sends_a_file_and_the_agent_sees_and_downloads_it(
    page: Any, visitor: Any, parley: Parley, site: Site, screens: Screens
) -> None:
    async with parley.app.state.runtime.database.transaction() as db:
        widget = await db.scalar(
            select(ChatWidget).where(ChatWidget.public_key == parley.seeded.widget_key)
        )
        widget.file_max_bytes = LIMIT
    await log_in(page, parley)
    await go_ready(page)

    window = await _open_chat(visitor, f"{site.url}/kettles")
    composer = window.get_by_role("textbox", name="Type your message…")
    await composer.fill("My kettle arrived broken, here is a photo")
    await composer.press("Enter")
    offer = page.get_by_role("alertdialog", name="Incoming Chat")
    await expect(offer).to_be_visible()
    await offer.get_by_role("button", name="Accept").click()
    transcript = page.locator(".chat-transcript")
    await expect(transcript.locator(".chat-message.from-visitor")).to_contain_text("photo")

    # The visitor attaches a picture with the button.
    attach = window.get_by_role("button", name="Attach a file")
    await expect(attach).to_be_visible()
    async with visitor.expect_file_chooser() as chooser_info:
        await attach.click()
    chooser = await chooser_info.value
    await chooser.set_files({"name": "kettle.png", "mimeType": "image/png", "buffer": PNG})
    mine = window.locator(".message.from-visitor .file")
    await expect(mine).to_have_count(1)
    await expect(mine.locator("a.download")).to_have_text("kettle.png")
    thumbnail = mine.locator("img")
    await expect(thumbnail).to_have_attribute("src", _starts_with("blob:"))
    assert await thumbnail.evaluate("img => img.complete && img.naturalWidth") == 1

    # The agent sees its thumbnail and downloads it.
    shown = transcript.locator(".chat-message.from-visitor .chat-file")
    await expect(shown).to_have_count(1)
    await expect(shown.locator(".chat-download")).to_have_text("kettle.png")
    agent_thumbnail = shown.locator("img.chat-thumbnail")
    await expect(agent_thumbnail).to_be_visible()
    await page.wait_for_function(
        "() => document.querySelector('img.chat-thumbnail')?.naturalWidth === 1"
    )
    await screens.shot(page, "agent-sees-the-picture")
    async with page.expect_download() as download_info:
        await shown.locator(".chat-download").click()
    download = await download_info.value
    assert download.suggested_filename == "kettle.png"
    assert await _saved(download) == PNG

    # The agent sends a document back; the visitor downloads it.
    await page.locator(".chat-file-input").set_input_files(
        {"name": "return-label.pdf", "mimeType": "application/pdf", "buffer": PDF}
    )
    theirs = window.locator(".message.from-agent .file")
    await expect(theirs).to_have_count(1)
    await expect(theirs.locator("a.download")).to_have_text("return-label.pdf")
    await expect(theirs.locator("img")).to_have_count(0)
    await screens.shot(visitor, "visitor-sees-the-document")
    async with visitor.expect_download() as visitor_download_info:
        await theirs.locator("a.download").click()
    visitor_download = await visitor_download_info.value
    assert visitor_download.suggested_filename == "return-label.pdf"
    assert await _saved(visitor_download) == PDF

    # A file dropped on the widget's window is sent as well.
    await window.evaluate(_DROP, "Order 1234, blue kettle\n")
    await expect(window.locator(".message.from-visitor .file a.download")).to_have_count(2)
    await expect(transcript.locator(".chat-message.from-visitor .chat-download").last).to_have_text(
        "notes.txt"
    )

    # Over the widget's limit: refused in the browser with the limit named.
    notice = window.locator(".notice.error")
    await window.locator("input[type=file]").set_input_files(
        {"name": "big.txt", "mimeType": "text/plain", "buffer": b"a" * (LIMIT + 1)}
    )
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("This file is too large: at most")
    # A program named like a picture: the server reads its bytes and refuses it.
    await window.locator("input[type=file]").set_input_files(
        {"name": "cat.png", "mimeType": "image/png", "buffer": b"MZ\x90\x00\x03\x00\x00\x00"}
    )
    await expect(notice).to_have_text("This kind of file cannot be sent.")
    await screens.shot(visitor, "wrong-kind-refused")
    await expect(window.locator(".message.from-visitor .file")).to_have_count(2)


def _starts_with(prefix: str) -> re.Pattern[str]:
    return re.compile("^" + re.escape(prefix))
