"""The console's login and home pages, driven the way a browser posts forms."""

from __future__ import annotations

import re

import httpx

from parley.platform.models import Role, User
from tests.conftest import PASSWORD, Api

RUSSIAN_LOGIN = "Вход в Parley"
POLISH_LOGIN = "Logowanie do Parley"


def _browser(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app),  # type: ignore[arg-type]
        base_url="http://testserver",
    )


async def _sign_in(client: httpx.AsyncClient, username: str) -> str:
    """Log in with the form; the CSRF token the home page's logout form carries."""
    response = await client.post("/login", data={"username": username, "password": PASSWORD})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/"
    home = await client.get("/")
    assert home.status_code == 200
    found = re.search(r'name="csrf_token" value="([^"]+)"', home.text)
    assert found, home.text
    return found.group(1)


async def test_login_form_signs_in_and_home_shows_who_is_signed_in(api: Api) -> None:
    await api.create_user(Role.SUPERVISOR, "sam")
    async with _browser(api) as browser:
        page = await browser.get("/login")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<form class="card" method="post" action="/login">' in page.text
        response = await browser.post("/login", data={"username": "Sam", "password": PASSWORD})
        assert response.status_code == 303
        assert "parley_session=" in response.headers["set-cookie"]
        assert "HttpOnly" in response.headers["set-cookie"]
        home = await browser.get("/")
        assert home.status_code == 200
        assert "Signed in as Test supervisor (Supervisor)" in home.text
        assert 'href="/docs"' in home.text
        assert home.headers["cache-control"] == "no-store"


async def test_wrong_password_shows_the_form_again_with_the_error(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        response = await browser.post("/login", data={"username": "anna", "password": "nope"})
        assert response.status_code == 401
        assert "Wrong username or password." in response.text
        assert 'value="anna"' in response.text  # the username is kept, the password is not
        assert "set-cookie" not in response.headers
        empty = await browser.post("/login", data={"username": "", "password": ""})
        assert empty.status_code == 401
        assert "Enter your username and password." in empty.text


async def test_repeated_failures_are_throttled_with_a_translated_message(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        browser.cookies.set("parley_lang", "ru")
        for _ in range(5):
            failed = await browser.post("/login", data={"username": "anna", "password": "x"})
            assert failed.status_code == 401
            assert "Неверное имя пользователя или пароль." in failed.text
        throttled = await browser.post("/login", data={"username": "anna", "password": PASSWORD})
        assert throttled.status_code == 429
        assert int(throttled.headers["retry-after"]) > 0
        assert "Слишком много неудачных попыток входа." in throttled.text


async def test_home_without_a_session_redirects_to_the_login_page(api: Api) -> None:
    async with _browser(api) as browser:
        response = await browser.get("/")
        assert response.status_code == 303
        assert response.headers["location"] == "/login"


async def test_logout_form_needs_the_csrf_token_of_the_session(api: Api) -> None:
    await api.create_user(Role.AGENT, "anna")
    async with _browser(api) as browser:
        csrf_token = await _sign_in(browser, "anna")
        refused = await browser.post("/logout", data={})
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "csrf_failed"
        forged = await browser.post("/logout", data={"csrf_token": "guessed"})
        assert forged.status_code == 403
        assert (await browser.get("/")).status_code == 200  # still signed in

        response = await browser.post("/logout", data={"csrf_token": csrf_token})
        assert response.status_code == 303
        assert response.headers["location"] == "/login"
        assert (await browser.get("/")).status_code == 303
        assert (await browser.get("/api/auth/me")).status_code == 401


async def test_language_cookie_switches_the_login_page_to_russian_and_polish(api: Api) -> None:
    async with _browser(api) as browser:
        english = await browser.get("/login")
        assert "Log in to Parley" in english.text
        assert '<html lang="en">' in english.text

        browser.cookies.set("parley_lang", "ru")
        russian = await browser.get("/login")
        assert RUSSIAN_LOGIN in russian.text
        assert '<html lang="ru">' in russian.text
        assert "Имя пользователя" in russian.text

        browser.cookies.set("parley_lang", "pl")
        polish = await browser.get("/login")
        assert POLISH_LOGIN in polish.text
        assert "Nazwa użytkownika" in polish.text


async def test_language_switcher_sets_the_cookie(api: Api) -> None:
    async with _browser(api) as browser:
        switched = await browser.get("/login", params={"lang": "pl"})
        assert POLISH_LOGIN in switched.text
        assert "parley_lang=pl" in switched.headers["set-cookie"]
        # The choice sticks, and beats the browser's own preference.
        again = await browser.get("/login", headers={"Accept-Language": "ru"})
        assert POLISH_LOGIN in again.text


async def test_accept_language_is_used_without_a_cookie(api: Api) -> None:
    async with _browser(api) as browser:
        page = await browser.get("/login", headers={"Accept-Language": "ru-RU,ru;q=0.9,en;q=0.5"})
        assert RUSSIAN_LOGIN in page.text


async def test_signed_in_user_sees_pages_in_their_own_language(api: Api) -> None:
    user_id = await api.create_user(Role.AGENT, "piotr")
    runtime = api.app.state.runtime  # type: ignore[attr-defined]
    async with runtime.database.transaction() as db:
        (await db.get_one(User, user_id)).language = "pl"
    async with _browser(api) as browser:
        browser.cookies.set("parley_lang", "ru")
        await _sign_in(browser, "piotr")
        home = await browser.get("/")
        assert "Zalogowano jako Test agent (Agent)" in home.text
        assert "Wyloguj się" in home.text


async def test_console_stylesheet_is_served(api: Api) -> None:
    async with _browser(api) as browser:
        css = await browser.get("/static/admin/admin.css")
        assert css.status_code == 200
        assert css.headers["content-type"].startswith("text/css")
        assert (await browser.get("/static/admin/missing.css")).status_code == 404
        assert (await browser.get("/static/admin/..%2Fapi.py")).status_code == 404
