"""Email bodies made safe to show in the agent desktop (F-EM-5).

A customer's HTML is hostile until proven otherwise: it is rendered inside our own page,
next to an agent's session. `sanitize_html` keeps formatting (paragraphs, lists, tables,
emphasis, a few harmless inline styles, images) and removes everything that runs or
submits: scripts, `<style>` sheets, event handlers, forms, frames, `javascript:` and
`data:` URLs, relative URLs (which would point into Parley itself). It is built on nh3
(the Rust ammonia sanitizer), with our own check of every URL attribute on top, because
nh3 does not re-check what an attribute filter returns.

Inline images arrive as `cid:` references to parts of the same message; the caller,
which knows where attachments are served, passes `resolve_cid` to turn a content id into
a URL (or None to drop the image). Links open in a new tab and tell the browser not to
pass our page or session along: `target="_blank" rel="noopener noreferrer nofollow"`.

`text_to_html` is the same promise for plain-text mail: escaped, line breaks and spacing
kept, http(s) links and addresses made clickable with the same link attributes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from urllib.parse import unquote, urlsplit

import nh3

CidResolver = Callable[[str], str | None]  # content id (no brackets) -> URL to show it

LINK_REL = "noopener noreferrer nofollow"

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "b", "blockquote", "br", "caption", "center", "cite", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4",
        "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s",
        "small", "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot",
        "th", "thead", "tr", "tt", "u", "ul",
    }
)  # fmt: skip

_CELL = {"align", "valign", "width", "height", "colspan", "rowspan", "bgcolor", "style"}
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "title", "dir", "lang", "align"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height", "border"},
    "font": {"color", "face", "size"},
    "table": {"width", "border", "cellpadding", "cellspacing", "bgcolor"},
    "td": _CELL,
    "th": _CELL,
    "tr": {"valign", "bgcolor"},
    "col": {"span", "width"},
    "colgroup": {"span", "width"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "blockquote": {"cite"},
    "q": {"cite"},
}

# Inline CSS that only changes how text looks; nothing that positions, overlays, loads
# a URL (background-image, content, ...) or hides things.
ALLOWED_STYLE_PROPERTIES = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "text-align", "text-decoration", "text-indent", "text-transform",
        "vertical-align", "white-space", "line-height", "letter-spacing", "word-break",
        "padding", "padding-left", "padding-right", "padding-top", "padding-bottom",
        "border", "border-collapse", "border-color", "border-style", "border-width",
        "list-style-type", "width", "height",
    }
)  # fmt: skip

# Removed together with their content (the text inside them is not for reading).
DROPPED_WITH_CONTENT = frozenset({"script", "style", "title", "head", "template"})

_URL_ATTRIBUTES = frozenset({"href", "src", "cite"})
_LINK_SCHEMES = frozenset({"http", "https", "mailto"})
_WEB_SCHEMES = frozenset({"http", "https"})

_LINKABLE = re.compile(
    r"(?P<url>\bhttps?://[^\s<>\"'`]+)"
    r"|(?P<www>\bwww\.[^\s<>\"'`]+)"
    r"|(?P<mail>\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+)"
)
_TRAILING_PUNCTUATION = ".,;:!?'\"»…"
_STYLE_VALUE = re.compile(r"[-#\w\s.,%'\"!()/+]*")
_STYLE_FUNCTION = re.compile(r"(?:url|expression|image|image-set|var|attr|env)\s*\(", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def sanitize_html(
    body: str,
    *,
    resolve_cid: CidResolver | None = None,
    allow_remote_images: bool = True,
) -> str:
    """The HTML fragment of `body` that is safe to insert into our page.

    `resolve_cid` gets the content id of each `<img src="cid:...">` and answers the URL
    that serves that attachment (a path on our site such as `/attachments/12`, or an
    http(s) URL), or None to drop the image; without it, cid images are dropped.
    `allow_remote_images=False` also drops http(s) images, which senders use to learn
    when and where a message was read.
    """

    def check_attribute(tag: str, attribute: str, value: str) -> str | None:
        if attribute == "style":
            return _harmless_style(value)
        if attribute not in _URL_ATTRIBUTES:
            return value
        if tag == "img" and attribute == "src":
            return _image_source(value, resolve_cid, allow_remote_images)
        if attribute == "href":
            return value if _has_scheme(value, _LINK_SCHEMES) else None
        return value if _has_scheme(value, _WEB_SCHEMES) else None

    return nh3.clean(
        _CONTROL.sub("", body),
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(DROPPED_WITH_CONTENT),
        attributes=ALLOWED_ATTRIBUTES,
        attribute_filter=check_attribute,
        link_rel=LINK_REL,
        set_tag_attribute_values={"a": {"target": "_blank"}},
        url_schemes={*_LINK_SCHEMES, "cid"},
        strip_comments=True,
    )


def text_to_html(text: str) -> str:
    """A plain-text body as HTML: escaped, spacing kept, links clickable."""
    pieces: list[str] = []
    position = 0
    for match in _LINKABLE.finditer(text):
        label = _trim_link(match.group(0))
        end = match.start() + len(label)
        pieces.append(html.escape(text[position : match.start()]))
        if match.group("url"):
            href = label
        elif match.group("www"):
            href = f"http://{label}"
        else:
            href = f"mailto:{label}"
        pieces.append(
            f'<a href="{html.escape(href)}" target="_blank" rel="{LINK_REL}">'
            f"{html.escape(label)}</a>"
        )
        position = end
    pieces.append(html.escape(text[position:]))
    escaped = "".join(pieces).replace("\r\n", "\n").replace("\r", "\n")
    # Through the sanitizer too, so both kinds of body obey exactly the same rules.
    return sanitize_html(f'<div style="white-space: pre-wrap">{escaped}</div>')


def _image_source(value: str, resolve_cid: CidResolver | None, allow_remote: bool) -> str | None:
    if value[:4].lower() == "cid:":
        if resolve_cid is None:
            return None
        url = resolve_cid(unquote(value[4:]).strip().strip("<>"))
        if url is None:
            return None
        is_own_path = url.startswith("/") and not url.startswith("//") and "\\" not in url
        return url if is_own_path or _has_scheme(url, _WEB_SCHEMES) else None
    return value if allow_remote and _has_scheme(value, _WEB_SCHEMES) else None


def _harmless_style(style: str) -> str | None:
    """The declarations of an inline `style` that are in ALLOWED_STYLE_PROPERTIES and
    load nothing. (Done here rather than by nh3's `filter_style_properties`, which the
    oldest nh3 we accept lacks, and which checks property names only.)"""
    kept: list[str] = []
    for declaration in style.split(";"):
        name, colon, value = declaration.partition(":")
        name, value = name.strip().lower(), value.strip()
        if not colon or name not in ALLOWED_STYLE_PROPERTIES or not value:
            continue
        if _STYLE_VALUE.fullmatch(value) and not _STYLE_FUNCTION.search(value):
            kept.append(f"{name}:{value}")
    return ";".join(kept) or None


def _has_scheme(url: str, schemes: frozenset[str]) -> bool:
    """Whether `url` is absolute with one of `schemes` (and a host, for http/https)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return False
    if parts.scheme.lower() not in schemes:
        return False
    return parts.scheme.lower() == "mailto" or bool(parts.netloc)


def _trim_link(candidate: str) -> str:
    """Drop the sentence punctuation a link ends next to, and an unmatched `)`."""
    while candidate and (
        candidate[-1] in _TRAILING_PUNCTUATION
        or (candidate[-1] == ")" and candidate.count("(") < candidate.count(")"))
    ):
        candidate = candidate[:-1]
    return candidate
