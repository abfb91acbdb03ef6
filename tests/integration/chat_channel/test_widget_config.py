"""The site widget's HTTP side, on SQLite and PostgreSQL: the look admins configure
(validated), the snippet they paste, the script sites load (cached, revalidated), and
the configuration a page reads (its origin checked, CORS for that origin only, texts
in the visitor's language, show/hide rules by page URL)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from parley.platform.models import Role
from tests.conftest import Api, fields

SITE = "https://shop.example"


@pytest.fixture
async def admin(api: Api) -> httpx.AsyncClient:
    return await api.token_for(Role.ADMIN)


async def _widget(admin: httpx.AsyncClient, **look: Any) -> dict[str, Any]:
    queue = await admin.post("/api/queues", json={"name": "Web chat", "channels": ["chat"]})
    assert queue.status_code == 201, queue.text
    created = await admin.post(
        "/api/chat-widgets",
        json={
            "name": "Shop",
            "queue_id": queue.json()["id"],
            "allowed_origins": [SITE],
            **look,
        },
    )
    assert created.status_code == 201, created.text
    widget: dict[str, Any] = created.json()
    return widget


async def _config(
    api: Api,
    key: str,
    *,
    origin: str | None = SITE,
    url: str = f"{SITE}/",
    lang: str | None = "en-US",
    **headers: str,
) -> httpx.Response:
    params = {"url": url, **({"lang": lang} if lang else {})}
    if origin is not None:
        headers["Origin"] = origin
    return await api.client.get(f"/chat/widgets/{key}/config", params=params, headers=headers)


async def test_a_new_widget_has_the_default_look(admin: httpx.AsyncClient) -> None:
    widget = await _widget(admin)
    assert {
        key: widget[key]
        for key in (
            "button_text",
            "window_title",
            "accent_color",
            "accent_text_color",
            "position",
            "offset_x",
            "offset_y",
            "operator_name",
            "operator_photo_url",
            "show_on",
            "hide_on",
        )
    } == {
        "button_text": "",
        "window_title": "",
        "accent_color": "#1f6feb",
        "accent_text_color": "#ffffff",
        "position": "bottom-right",
        "offset_x": 20,
        "offset_y": 20,
        "operator_name": "",
        "operator_photo_url": "",
        "show_on": [],
        "hide_on": [],
    }


async def test_admins_set_the_look_and_bad_values_are_refused(admin: httpx.AsyncClient) -> None:
    widget = await _widget(admin)
    changed = await admin.patch(
        f"/api/chat-widgets/{widget['id']}",
        json={
            "button_text": "Ask us",
            "accent_color": "#AA3300",
            "position": "bottom-left",
            "offset_x": 0,
            "offset_y": 64,
            "operator_name": "Anna",
            "operator_photo_url": "https://cdn.shop.example/anna.jpg",
            "show_on": [f"{SITE}/*", f"{SITE}/*"],
            "hide_on": ["*/checkout*"],
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["button_text"], body["position"], body["offset_y"]) == (
        "Ask us",
        "bottom-left",
        64,
    )
    assert body["show_on"] == [f"{SITE}/*"]  # duplicates dropped
    assert body["hide_on"] == ["*/checkout*"]

    refused = await admin.patch(
        f"/api/chat-widgets/{widget['id']}",
        json={
            "accent_color": "red",
            "accent_text_color": "#fff",
            "position": "top-left",
            "offset_x": -1,
            "offset_y": 501,
            "operator_photo_url": "javascript:alert(1)",
            "button_text": "x" * 61,
            "window_title": "two\nlines",
            "show_on": ["has space"],
            "hide_on": [""],
        },
    )
    assert set(fields(refused)) == {
        "accent_color",
        "accent_text_color",
        "position",
        "offset_x",
        "offset_y",
        "operator_photo_url",
        "button_text",
        "window_title",
        "show_on.0",
        "hide_on.0",
    }
    again = await admin.get(f"/api/chat-widgets/{widget['id']}")
    assert again.json()["accent_color"] == "#AA3300"  # nothing of the refused change kept


async def test_the_snippet_is_one_async_script_tag_for_supervisors(
    api: Api, admin: httpx.AsyncClient
) -> None:
    widget = await _widget(admin)
    supervisor = await api.token_for(Role.SUPERVISOR)
    answer = await supervisor.get(f"/api/chat-widgets/{widget['id']}/snippet")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "public_key": widget["public_key"],
        "script_url": "http://testserver/chat/widget.js",
        "snippet": (
            '<script src="http://testserver/chat/widget.js" '
            f'data-parley-widget="{widget["public_key"]}" async></script>'
        ),
    }
    agent = await api.token_for(Role.AGENT)
    assert (await agent.get(f"/api/chat-widgets/{widget['id']}/snippet")).status_code == 403
    assert (await admin.get("/api/chat-widgets/999999/snippet")).status_code == 404


async def test_the_script_is_cached_and_revalidated(api: Api) -> None:
    script = await api.client.get("/chat/widget.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert script.headers["cache-control"] == "public, max-age=3600"
    assert "data-parley-widget" in script.text and "attachShadow" in script.text
    etag = script.headers["etag"]
    unchanged = await api.client.get("/chat/widget.js", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["etag"] == etag
    other = await api.client.get("/chat/widget.js", headers={"If-None-Match": '"old"'})
    assert other.status_code == 200


async def test_an_allowed_page_gets_the_look_with_cors_for_its_origin_only(
    api: Api, admin: httpx.AsyncClient
) -> None:
    widget = await _widget(
        admin, operator_name="Anna", operator_photo_url="https://cdn.shop.example/a.jpg"
    )
    answer = await _config(api, widget["public_key"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SITE
    assert answer.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in answer.headers
    config = answer.json()
    assert config["is_shown"] is True and config["language"] == "en"
    assert config["look"] == {
        "position": "bottom-right",
        "offset_x": 20,
        "offset_y": 20,
        "accent_color": "#1f6feb",
        "accent_text_color": "#ffffff",
        "operator_name": "Anna",
        "operator_photo_url": "https://cdn.shop.example/a.jpg",
    }
    assert config["texts"]["button"] == "Chat with us"
    assert config["texts"]["typing"] == "Operator is typing…"


@pytest.mark.parametrize(
    ("origin", "status"),
    [(None, 403), ("http://shop.example", 403), ("https://evil.example", 403)],
)
async def test_a_page_on_another_origin_is_refused_without_cors(
    api: Api, admin: httpx.AsyncClient, origin: str | None, status: int
) -> None:
    widget = await _widget(admin)
    answer = await _config(api, widget["public_key"], origin=origin)
    assert answer.status_code == status
    assert "access-control-allow-origin" not in answer.headers
    assert "look" not in answer.text


async def test_unknown_and_inactive_widgets_are_not_found(
    api: Api, admin: httpx.AsyncClient
) -> None:
    assert (await _config(api, "w_nobody")).status_code == 404
    widget = await _widget(admin)
    await admin.patch(f"/api/chat-widgets/{widget['id']}", json={"is_active": False})
    answer = await _config(api, widget["public_key"])
    assert answer.status_code == 404
    assert "access-control-allow-origin" not in answer.headers


# "Send" and "Close" are in the catalogs already; the widget's own new strings reach
# them with the next catalog update (the same path, so these show it works).
@pytest.mark.parametrize(
    ("lang", "accept_language", "language", "send", "close"),
    [
        ("ru-RU", None, "ru", "Отправить", "Закрыть"),
        ("pl", None, "pl", "Wyślij", "Zamknij"),
        (None, "pl-PL,pl;q=0.9", "pl", "Wyślij", "Zamknij"),
        ("de-DE", "de", "en", "Send", "Close"),
    ],
)
async def test_default_texts_follow_the_visitors_language(
    api: Api,
    admin: httpx.AsyncClient,
    lang: str | None,
    accept_language: str | None,
    language: str,
    send: str,
    close: str,
) -> None:
    widget = await _widget(admin)
    headers = {"Accept-Language": accept_language} if accept_language else {}
    config = (await _config(api, widget["public_key"], lang=lang, **headers)).json()
    assert config["language"] == language
    assert (config["texts"]["send"], config["texts"]["close"]) == (send, close)


async def test_configured_texts_are_kept_in_every_language(
    api: Api, admin: httpx.AsyncClient
) -> None:
    widget = await _widget(admin, button_text="Ask Anna", window_title="Shop help")
    config = (await _config(api, widget["public_key"], lang="ru")).json()
    assert (config["texts"]["button"], config["texts"]["title"]) == ("Ask Anna", "Shop help")
    assert config["texts"]["send"] == "Отправить"


@pytest.mark.parametrize(
    ("url", "is_shown"),
    [
        (f"{SITE}/", True),
        (f"{SITE}/help/delivery", True),
        (f"{SITE}/checkout/pay", False),
        (f"{SITE}/help/checkout", False),
        ("https://blog.shop.example/", False),
    ],
)
async def test_show_and_hide_rules_decide_by_page_url(
    api: Api, admin: httpx.AsyncClient, url: str, is_shown: bool
) -> None:
    widget = await _widget(admin, show_on=[f"{SITE}/*"], hide_on=["*/checkout*"])
    config = (await _config(api, widget["public_key"], url=url)).json()
    assert config["is_shown"] is is_shown
