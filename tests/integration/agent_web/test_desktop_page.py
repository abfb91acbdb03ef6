"""The desktop page as the server sends it: who may open it, where others are sent, what
it hands its scripts, and the static files behind it."""

from __future__ import annotations

import json
import re

import httpx

from parley.platform.config import IceServer
from parley.platform.models import Role
from tests.conftest import PASSWORD, Api


def _browser(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app),  # type: ignore[arg-type]
        base_url="http://testserver",
    )


def _json_script(html: str, element_id: str) -> dict[str, object]:
    found = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', html)
    assert found, html
    data: dict[str, object] = json.loads(found.group(1))
    return data


async def test_without_a_session_the_desktop_sends_the_browser_to_log_in_and_back(
    api: Api,
) -> None:
    await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        response = await browser.get("/agent")
        assert response.status_code == 303
        assert response.headers["location"] == "/login?next=/agent"
        form = await browser.get("/login?next=/agent")
        assert '<input type="hidden" name="next" value="/agent">' in form.text
        assert 'href="/login?lang=ru&amp;next=/agent"' in form.text
        signed_in = await browser.post(
            "/login", data={"username": "anna", "password": PASSWORD, "next": "/agent"}
        )
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/agent"
        page = await browser.get("/agent")
        assert page.status_code == 200
        assert page.headers["cache-control"] == "no-store"


async def test_login_never_sends_the_browser_to_another_site(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    for target in ("//evil.example/", "https://evil.example/", "/\\evil.example", "agent"):
        async with _browser(api) as browser:
            form = await browser.get("/login", params={"next": target})
            assert 'name="next" value="/"' in form.text
            response = await browser.post(
                "/login", data={"username": "anna", "password": PASSWORD, "next": target}
            )
            assert response.status_code == 303
            assert response.headers["location"] == "/", target


async def test_the_page_hands_its_scripts_the_user_the_socket_and_translated_strings(
    api: Api,
) -> None:
    user_id = await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        await browser.post("/login", data={"username": "anna", "password": PASSWORD})
        english = (await browser.get("/agent")).text
        config = _json_script(english, "desktop-config")
        assert config["me"] == {"id": user_id, "display_name": "Test agent", "role": "agent"}
        assert config["socket_path"] == "/ws/agent"
        assert config["language"] == "en"
        assert isinstance(config["csrf_token"], str) and len(config["csrf_token"]) > 20
        strings = _json_script(english, "desktop-strings")
        assert strings["state.not_ready"] == "Not ready"
        assert strings["offer.countdown"] == "{seconds} s left"

        response = await browser.put(
            "/api/me/language",
            json={"language": "pl"},
            headers={"X-CSRF-Token": str(config["csrf_token"])},
        )
        assert response.status_code == 200, response.text
        polish = (await browser.get("/agent")).text
        assert '<html lang="pl">' in polish
        strings = _json_script(polish, "desktop-strings")
        assert strings["state.not_ready"] == "Niegotowy"
        # Placeholders for the scripts survive translation.
        assert "{seconds}" in str(strings["offer.countdown"])


async def test_static_files_are_served_with_their_types_and_nothing_else(api: Api) -> None:
    async with _browser(api) as browser:
        script = await browser.get("/static/agent/js/main.js")
        assert script.status_code == 200
        assert script.headers["content-type"] == "text/javascript; charset=utf-8"
        assert script.headers["cache-control"] == "no-cache"
        style = await browser.get("/static/agent/desktop.css")
        assert style.headers["content-type"] == "text/css; charset=utf-8"
        for path in (
            "/static/agent/../api.py",
            "/static/agent/%2e%2e/api.py",
            "/static/agent/js/missing.js",
            "/static/agent/templates/desktop.html",
        ):
            assert (await browser.get(path)).status_code == 404, path


async def test_the_page_hands_the_softphone_its_ice_servers(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        await browser.post("/login", data={"username": "anna", "password": PASSWORD})
        config = _json_script((await browser.get("/agent")).text, "desktop-config")
        assert config["ice_servers"] == []  # none configured: a LAN
        api.app.state.runtime.settings.media_ice_servers = [
            IceServer(urls=["stun:stun.example.com:3478"]),
            IceServer(urls=["turns:turn.example.com:443"], username="u", credential="c"),
        ]
        config = _json_script((await browser.get("/agent")).text, "desktop-config")
        assert config["ice_servers"] == [
            {"urls": ["stun:stun.example.com:3478"]},
            {"urls": ["turns:turn.example.com:443"], "username": "u", "credential": "c"},
        ]
