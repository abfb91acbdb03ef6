"""HTML for display (F-EM-5): what runs is removed, what formats is kept, cid images point
at our attachment URLs, and plain text becomes escaped HTML with safe links."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parley.email_channel.parsing import parse_message
from parley.email_channel.sanitize import LINK_REL, sanitize_html, text_to_html


def attachment_url(content_id: str) -> str | None:
    return f"/attachments/{content_id}" if content_id == "logo@example.com" else None


@pytest.mark.parametrize(
    "hostile",
    [
        "<script>alert(1)</script>",
        "<SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        '<img src="https://example.com/a.png" onerror="alert(1)">',
        '<body onload="alert(1)">',
        '<a href="javascript:alert(1)">click</a>',
        '<a href="JaVaScRiPt:alert(1)">click</a>',
        '<a href="java&#x09;script:alert(1)">click</a>',
        '<a href=" javascript:alert(1)">click</a>',
        '<a href="vbscript:msgbox(1)">click</a>',
        '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">click</a>',
        '<img src="data:image/svg+xml,<svg onload=alert(1)>">',
        '<iframe src="https://evil.example"></iframe>',
        '<form action="https://evil.example"><input name="password"><button>Go</button></form>',
        "<style>body { display: none }</style>",
        '<div style="background-image: url(javascript:alert(1))">x</div>',
        '<svg><script>alert(1)</script></svg>',
        '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
        '<object data="https://evil.example/x.swf"></object><embed src="x">',
        '<meta http-equiv="refresh" content="0;url=https://evil.example">',
        '<base href="https://evil.example/">',
        '<a href="/admin/users/1/delete">relative into Parley</a>',
        '<img src="//evil.example/pixel.gif">',
        "<!--<script>alert(1)</script>-->",
    ],
)  # fmt: skip
def test_nothing_that_runs_or_submits_survives(hostile: str) -> None:
    clean = sanitize_html(f"<p>before</p>{hostile}<p>after</p>").lower()
    for forbidden in (
        "<script", "javascript:", "vbscript:", "data:", "onerror", "onload", "<iframe",
        "<form", "<input", "<button", "<style", "<svg", "<object", "<embed", "<meta",
        "<base", "/admin", "evil.example", "alert(",
    ):  # fmt: skip
        assert forbidden not in clean, clean
    assert clean.startswith("<p>before</p>")  # (an unclosed <style> may swallow "after")


def test_formatting_is_kept() -> None:
    body = (
        '<h2>Order</h2><p style="color: red; position: fixed">Dear <b>Anna</b>, <i>thanks</i>'
        '</p><ul><li>one</li></ul><table border="1"><tr><td colspan="2">cell</td></tr>'
        "</table><blockquote>quoted</blockquote><br>"
    )
    clean = sanitize_html(body)
    for kept in ("<h2>", "<b>Anna</b>", "<i>", "<li>one</li>", 'colspan="2"', "<blockquote>"):
        assert kept in clean
    assert 'style="color:red"' in clean.replace(" ", "")
    assert "position" not in clean


def test_inline_styles_keep_only_harmless_declarations() -> None:
    clean = sanitize_html(
        '<span style="font-weight: bold; color: expression(alert(1)); '
        'background-color: URL(https://t.example/p); margin-top: -999px; color: #c00">x</span>'
        '<span style="position: absolute">y</span>'
    )
    assert clean == '<span style="font-weight:bold;color:#c00">x</span><span>y</span>'


def test_links_open_safely_in_a_new_tab() -> None:
    clean = sanitize_html(
        '<a href="https://shop.example/order/1" target="_self" rel="opener">order</a>'
        '<a href="mailto:help@shop.example">mail</a>'
    )
    links = re.findall(r"<a [^>]*>", clean)
    assert len(links) == 2
    for link in links:
        assert 'target="_blank"' in link
        assert f'rel="{LINK_REL}"' in link
        assert "opener" not in link.replace("noopener", "")
    assert 'href="https://shop.example/order/1"' in clean
    assert 'href="mailto:help@shop.example"' in clean


def test_cid_images_are_rewritten_to_the_attachment_url() -> None:
    clean = sanitize_html(
        '<img src="cid:logo@example.com" alt="logo"><img src="cid:unknown@example.com">',
        resolve_cid=attachment_url,
    )
    assert '<img src="/attachments/logo@example.com" alt="logo">' in clean
    assert "cid:" not in clean
    assert "unknown" not in clean


def test_cid_images_of_a_parsed_message_use_its_attachments() -> None:
    raw = (
        b'Content-Type: multipart/related; boundary="r"\r\n\r\n--r\r\n'
        b"Content-Type: text/html\r\n\r\n"
        b'<p>Hi</p><img src="cid:%3Cpic1%40mail%3E" onerror="alert(1)">\r\n--r\r\n'
        b"Content-Type: image/gif\r\nContent-ID: <pic1@mail>\r\n\r\nGIF89a\r\n--r--\r\n"
    )
    message = parse_message(raw)
    urls = {a.content_id: f"/attachments/{n}" for n, a in enumerate(message.attachments)}
    clean = sanitize_html(message.html_body or "", resolve_cid=urls.get)
    assert clean == '<p>Hi</p><img src="/attachments/0">'


def test_a_resolver_cannot_smuggle_a_dangerous_url() -> None:
    for url in ("javascript:alert(1)", "//evil.example/x", "data:image/png;base64,AA"):
        clean = sanitize_html('<img src="cid:x">', resolve_cid=lambda _cid, url=url: url)
        assert "src" not in clean


def test_cid_images_are_dropped_without_a_resolver_and_remote_ones_on_request() -> None:
    body = '<img src="cid:logo@example.com"><img src="https://tracker.example/p.gif">'
    assert "cid:" not in sanitize_html(body)
    assert "tracker.example" in sanitize_html(body)
    assert "tracker.example" not in sanitize_html(body, allow_remote_images=False)


def test_plain_text_is_escaped_and_links_made_clickable() -> None:
    html = text_to_html(
        "Hi <b>team</b> & co,\nsee https://shop.example/o?id=1&x=2. Or (www.shop.example/faq)\n"
        "or write to help@shop.example. Not javascript:alert(1)"
    )
    assert "&lt;b&gt;team&lt;/b&gt; &amp; co" in html
    assert '<a href="https://shop.example/o?id=1&amp;x=2"' in html
    assert ">https://shop.example/o?id=1&amp;x=2</a>." in html
    assert '<a href="http://www.shop.example/faq"' in html
    assert ">www.shop.example/faq</a>)" in html
    assert '<a href="mailto:help@shop.example"' in html
    assert 'href="javascript' not in html
    assert html.count(f'rel="{LINK_REL}"') == 3
    assert html.count('target="_blank"') == 3
    assert "\n" in html  # line breaks kept (shown with white-space: pre-wrap)


def test_a_link_in_plain_text_cannot_break_out_of_its_attribute() -> None:
    html = text_to_html('https://x.example/"onmouseover="alert(1) and https://y.example/<script>')
    assert not re.search(r"<[^>]*onmouseover", html)  # only ever text, never an attribute
    assert "<script" not in html
    assert re.findall(r'href="([^"]*)"', html) == ["https://x.example/", "https://y.example/"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_plain_text_gives_no_markup_of_its_own(text: str) -> None:
    html = text_to_html(text)
    tags = set(re.findall(r"<\s*/?\s*([a-zA-Z0-9]+)", html))
    assert tags <= {"div", "a"}
    for href in re.findall(r'href="([^"]*)"', html):
        assert href.startswith(("http://", "https://", "mailto:"))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<script>", "</script>", "<img src=x onerror=alert(1)>", "<a href='",
                "javascript:", "'>", "<p>", "</p>", "<style>", "<iframe>", "on", "click=",
                '"', "<", ">", "&#", "x", " ", "<svg/onload=alert(1)>", "<!--", "-->",
            ]
        ),
        max_size=30,
    ).map("".join)
)  # fmt: skip
def test_sanitized_html_never_keeps_handlers_or_scripts(html: str) -> None:
    clean = sanitize_html(html).lower()
    assert "<script" not in clean and "<iframe" not in clean and "<svg" not in clean
    assert not re.search(r"<[^>]*\son\w+\s*=", clean)
    assert 'href="javascript' not in clean and 'src="javascript' not in clean
