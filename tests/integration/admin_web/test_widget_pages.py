"""The console's chat pages, driven the way a browser posts forms: the widget list and
form (every setting, errors next to their fields, the snippet, the preview), the
invitation scenarios of a widget, and who may see and change them."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from parley.platform.models import (
    AuditLog,
    ChatInvitationScenario,
    ChatWidget,
    Queue,
    Role,
    User,
)
from tests.conftest import PASSWORD, Api

SITE = "https://shop.example"


def _browser(api: Api) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api.app),  # type: ignore[arg-type]
        base_url="http://testserver",
    )


@asynccontextmanager
async def _signed_in(api: Api, role: Role) -> AsyncIterator[httpx.AsyncClient]:
    """A browser logged in with the form as a new user of `role` (no CSRF header: the
    forms must carry the token themselves)."""
    user_id = await api.create_user(role)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        username = (await db.get_one(User, user_id)).username
    async with _browser(api) as browser:
        response = await browser.post("/login", data={"username": username, "password": PASSWORD})
        assert response.status_code == 303, response.text
        yield browser


def _csrf(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _error_of(page: httpx.Response, name: str) -> str:
    found = re.search(rf'<span class="field-error" id="{name}-error">([^<]*)</span>', page.text)
    assert found, f"no error shown for {name}"
    return found.group(1)


def _snippet(page: httpx.Response) -> str:
    """The embed snippet as the page shows it (and the copy button copies it)."""
    found = re.search(r'<code id="snippet">([^<]*)</code>', page.text)
    assert found, page.text
    return html.unescape(found.group(1))


async def _queue(api: Api, name: str = "Web chat") -> int:
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        queue = Queue(name=name, channels=["chat"])
        db.add(queue)
        await db.flush()
        return queue.id


async def _widget(api: Api, **values: Any) -> ChatWidget:
    queue_id = await _queue(api)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        row = ChatWidget(
            name="Shop",
            public_key="w_pages_shop",
            queue_id=queue_id,
            allowed_origins=[SITE],
            **values,
        )
        db.add(row)
        await db.flush()
        return row


async def _row(api: Api, model: Any, row_id: int) -> Any:
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        return await db.get_one(model, row_id)


def _widget_form(queue_id: int, csrf_token: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf_token,
        "name": "Shop",
        "queue_id": str(queue_id),
        "is_active": "on",
        "allowed_origins": f"{SITE}\r\nhttps://www.shop.example\r\n",
        "greeting": "Hello!",
        "button_text": "Ask us",
        "window_title": "We are here",
        "accent_color": "#112233",
        "accent_text_color": "#fefefe",
        "position": "bottom-left",
        "offset_x": "30",
        "offset_y": "40",
        "operator_name": "Anna",
        "operator_photo_url": "https://shop.example/anna.png",
        "show_on": "https://shop.example/*\n",
        "hide_on": "https://shop.example/checkout*",
        "show_in": "Poland\nGermany",
        "hide_in": "Berlin",
        "prechat_fields": ["name", "email"],
        "prechat_required": ["email"],
        "offline_form_enabled": "on",
        "offline_notify_email": "Support@Shop.example",
        "holding_after_seconds": "45",
        "holding_text": "Hold on, please.",
        "contacts_after_seconds": "90",
        "contacts_text": "Leave your email.",
        "inactivity_close_minutes": "15",
    }
    form.update(changes)
    return form


async def test_home_links_the_chat_widgets_for_supervisors_and_admins_only(api: Api) -> None:
    for role, shown in ((Role.AGENT, False), (Role.SUPERVISOR, True), (Role.ADMIN, True)):
        async with _signed_in(api, role) as browser:
            home = await browser.get("/")
            assert home.status_code == 200
            assert ('href="/widgets"' in home.text) is shown, role


@pytest.mark.parametrize(
    "path",
    [
        "/widgets",
        "/widgets/new",
        "/widgets/{id}",
        "/widgets/{id}/preview",
        "/widgets/{id}/invitations",
        "/widgets/{id}/invitations/new",
    ],
)
async def test_agents_are_refused_and_strangers_sent_to_log_in(api: Api, path: str) -> None:
    row = await _widget(api)
    url = path.format(id=row.id)
    async with _signed_in(api, Role.AGENT) as agent:
        refused = await agent.get(url)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    async with _browser(api) as stranger:
        response = await stranger.get(url)
        assert response.status_code == 303
        assert response.headers["location"] == f"/login?next={url}"


async def test_the_list_shows_each_widget_with_its_queue_and_links(api: Api) -> None:
    row = await _widget(api)
    async with _signed_in(api, Role.ADMIN) as admin:
        page = await admin.get("/widgets")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert f'<a href="/widgets/{row.id}">Shop</a>' in page.text
    assert "<td>Web chat</td>" in page.text
    assert f"<td>{SITE}</td>" in page.text
    assert f'href="/widgets/{row.id}/invitations"' in page.text
    assert 'href="/widgets/new"' in page.text


async def test_supervisors_see_the_settings_and_snippet_read_only(api: Api) -> None:
    row = await _widget(api, button_text="Chat now")
    async with _signed_in(api, Role.SUPERVISOR) as supervisor:
        listing = await supervisor.get("/widgets")
        assert listing.status_code == 200
        assert 'href="/widgets/new"' not in listing.text
        page = await supervisor.get(f"/widgets/{row.id}")
        assert page.status_code == 200
        assert "<fieldset disabled>" in page.text
        assert 'type="submit">Save' not in page.text
        assert 'value="Chat now"' in page.text
        assert _snippet(page) == (
            '<script src="http://testserver/chat/widget.js" '
            'data-parley-widget="w_pages_shop" async></script>'
        )
        # The form posts are for admins only, even with the session's CSRF token.
        refused = await supervisor.post(
            f"/widgets/{row.id}", data=_widget_form(row.queue_id, _csrf(page))
        )
        assert refused.status_code == 403
        assert (await supervisor.get("/widgets/new")).status_code == 403
    assert (await _row(api, ChatWidget, row.id)).button_text == "Chat now"


async def test_an_admin_changes_every_setting_with_the_form(api: Api) -> None:
    row = await _widget(api)
    other_queue = await _queue(api, "Sales chat")
    async with _signed_in(api, Role.ADMIN) as admin:
        page = await admin.get(f"/widgets/{row.id}")
        assert page.status_code == 200
        assert f'<option value="{row.queue_id}" selected>Web chat</option>' in page.text
        saved = await admin.post(f"/widgets/{row.id}", data=_widget_form(other_queue, _csrf(page)))
        assert saved.status_code == 303, saved.text
        assert saved.headers["location"] == f"/widgets/{row.id}?saved=1"
        again = await admin.get(saved.headers["location"])
        assert "Saved." in again.text
        assert 'value="Ask us"' in again.text
        assert f'<option value="{other_queue}" selected>Sales chat</option>' in again.text
        assert "Poland\nGermany</textarea>" in again.text
    changed = await _row(api, ChatWidget, row.id)
    assert changed.queue_id == other_queue
    assert changed.allowed_origins == [SITE, "https://www.shop.example"]
    assert (changed.button_text, changed.window_title) == ("Ask us", "We are here")
    assert (changed.accent_color, changed.accent_text_color) == ("#112233", "#fefefe")
    assert (changed.position, changed.offset_x, changed.offset_y) == ("bottom-left", 30, 40)
    assert (changed.operator_name, changed.operator_photo_url) == (
        "Anna",
        "https://shop.example/anna.png",
    )
    assert (changed.show_on, changed.hide_on) == (
        ["https://shop.example/*"],
        ["https://shop.example/checkout*"],
    )
    assert (changed.show_in, changed.hide_in) == (["Poland", "Germany"], ["Berlin"])
    assert (changed.prechat_fields, changed.prechat_required) == (["name", "email"], ["email"])
    assert changed.offline_form_enabled is True
    assert changed.offline_notify_email == "support@shop.example"
    assert (changed.holding_after_seconds, changed.holding_text) == (45, "Hold on, please.")
    assert (changed.contacts_after_seconds, changed.contacts_text) == (90, "Leave your email.")
    assert changed.inactivity_close_minutes == 15
    assert changed.greeting == "Hello!"
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        audit = list(
            await db.scalars(
                select(AuditLog).where(
                    AuditLog.entity_type == "chat_widget", AuditLog.entity_id == str(row.id)
                )
            )
        )
    assert [entry.action for entry in audit] == ["update"]
    assert "button_text" in audit[0].changes


async def test_unchecked_boxes_turn_settings_off(api: Api) -> None:
    row = await _widget(api, offline_form_enabled=True)
    async with _signed_in(api, Role.ADMIN) as admin:
        page = await admin.get(f"/widgets/{row.id}")
        form = _widget_form(row.queue_id, _csrf(page), prechat_fields=[], prechat_required=[])
        del form["is_active"], form["offline_form_enabled"]
        saved = await admin.post(f"/widgets/{row.id}", data=form)
        assert saved.status_code == 303, saved.text
    changed = await _row(api, ChatWidget, row.id)
    assert (changed.is_active, changed.offline_form_enabled) == (False, False)
    assert changed.prechat_fields == []


async def test_refused_values_are_shown_next_to_their_fields_and_kept(api: Api) -> None:
    row = await _widget(api, button_text="Chat now")
    async with _signed_in(api, Role.ADMIN) as admin:
        page = await admin.get(f"/widgets/{row.id}")
        form = _widget_form(
            row.queue_id,
            _csrf(page),
            accent_color="red",
            offset_x="600",
            allowed_origins="https://shop.example/path",
            operator_photo_url="ftp://shop.example/a.png",
            button_text="Typed but not saved",
        )
        refused = await admin.post(f"/widgets/{row.id}", data=form)
        assert refused.status_code == 422
        assert "Check the marked fields." in refused.text
        assert "pattern" in _error_of(refused, "accent_color")
        assert "500" in _error_of(refused, "offset_x")
        assert "origin" in _error_of(refused, "allowed_origins")
        assert "http" in _error_of(refused, "operator_photo_url")
        assert 'value="Typed but not saved"' in refused.text
        assert 'aria-describedby="accent_color-error"' in refused.text
        # A rule of the resource's own (past the schema) shows the same way.
        form = _widget_form(row.queue_id, _csrf(page), prechat_fields=["name"])
        required = await admin.post(f"/widgets/{row.id}", data=form)
        assert required.status_code == 422
        assert _error_of(required, "prechat_required") == (
            "Only fields the pre-chat form asks can be required."
        )
        unknown_queue = await admin.post(f"/widgets/{row.id}", data=_widget_form(9999, _csrf(page)))
        assert unknown_queue.status_code == 422
        assert _error_of(unknown_queue, "queue_id") == "Queue 9999 does not exist."
    assert (await _row(api, ChatWidget, row.id)).button_text == "Chat now"


async def test_forms_without_the_session_csrf_token_are_refused(api: Api) -> None:
    row = await _widget(api, button_text="Chat now")
    async with _signed_in(api, Role.ADMIN) as admin:
        for token in ("", "guessed"):
            refused = await admin.post(f"/widgets/{row.id}", data=_widget_form(row.queue_id, token))
            assert refused.status_code == 403
            assert refused.json()["error"]["code"] == "csrf_failed"
    assert (await _row(api, ChatWidget, row.id)).button_text == "Chat now"


async def test_an_admin_creates_a_widget_and_sees_its_snippet(api: Api) -> None:
    queue_id = await _queue(api)
    async with _signed_in(api, Role.ADMIN) as admin:
        blank = await admin.get("/widgets/new")
        assert blank.status_code == 200
        assert 'value="#1f6feb"' in blank.text  # the schema's defaults
        missing = await admin.post("/widgets/new", data={"csrf_token": _csrf(blank)})
        assert missing.status_code == 422
        assert _error_of(missing, "name")
        assert _error_of(missing, "queue_id")
        created = await admin.post(
            "/widgets/new", data=_widget_form(queue_id, _csrf(blank), name="Blog")
        )
        assert created.status_code == 303, created.text
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            row = await db.scalar(select(ChatWidget).where(ChatWidget.name == "Blog"))
        assert row is not None and row.public_key.startswith("w_")
        assert created.headers["location"] == f"/widgets/{row.id}?saved=1"
        page = await admin.get(created.headers["location"])
        assert f'data-parley-widget="{row.public_key}"' in _snippet(page)
        assert 'id="copy-snippet"' in page.text
        assert f'href="/widgets/{row.id}/preview"' in page.text


async def test_the_preview_embeds_the_widget_and_reads_its_look(api: Api) -> None:
    row = await _widget(api, button_text="Chat now", show_on=["https://elsewhere.example/*"])
    async with _signed_in(api, Role.SUPERVISOR) as supervisor:
        preview = await supervisor.get(f"/widgets/{row.id}/preview")
        assert preview.status_code == 200
        assert (
            '<script src="http://testserver/chat/widget.js" '
            'data-parley-widget="w_pages_shop" async></script>'
        ) in preview.text
        assert f'"/widgets/{row.id}/preview/config"' in preview.text
        config = await supervisor.get(f"/widgets/{row.id}/preview/config", params={"lang": "pl"})
        assert config.status_code == 200
        body = config.json()
        # Shown whatever its page rules say, in the language asked for.
        assert body["is_shown"] is True
        assert body["texts"]["button"] == "Chat now"
        assert body["language"] == "pl"
    async with _browser(api) as stranger:
        anonymous = await stranger.get(f"/widgets/{row.id}/preview/config")
        assert anonymous.status_code == 401
    async with _signed_in(api, Role.AGENT) as agent:
        assert (await agent.get(f"/widgets/{row.id}/preview/config")).status_code == 403


async def test_an_unknown_widget_is_not_found(api: Api) -> None:
    async with _signed_in(api, Role.ADMIN) as admin:
        assert (await admin.get("/widgets/999")).status_code == 404
        assert (await admin.get("/widgets/999/invitations")).status_code == 404


def _scenario_form(csrf_token: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf_token,
        "name": "Reviews",
        "message": "Need help choosing?",
        "is_active": "on",
        "min_time_on_site_seconds": "120",
        "min_time_on_page_seconds": "30",
        "max_invitations_seen": "2",
        "min_seconds_since_last_invitation": "600",
        "requires_agent_online": "on",
        "is_new_visitor": "new",
        "url_patterns": "/product/*/reviews\n/cart",
        "referrer_contains": "google.\nbing.",
        "location_contains": "Poland",
    }
    form.update(changes)
    return form


async def test_an_admin_creates_edits_and_deletes_an_invitation(api: Api) -> None:
    row = await _widget(api)
    async with _signed_in(api, Role.ADMIN) as admin:
        empty = await admin.get(f"/widgets/{row.id}/invitations")
        assert empty.status_code == 200
        assert "No invitations yet." in empty.text
        blank = await admin.get(f"/widgets/{row.id}/invitations/new")
        assert blank.status_code == 200
        created = await admin.post(
            f"/widgets/{row.id}/invitations/new", data=_scenario_form(_csrf(blank))
        )
        assert created.status_code == 303, created.text
        async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
            scenario = await db.scalar(select(ChatInvitationScenario))
        assert scenario is not None
        assert scenario.widget_id == row.id
        assert (scenario.name, scenario.message) == ("Reviews", "Need help choosing?")
        assert scenario.min_time_on_site_seconds == 120
        assert scenario.min_time_on_page_seconds == 30
        assert scenario.max_invitations_seen == 2
        assert scenario.min_seconds_since_last_invitation == 600
        assert scenario.requires_agent_online is True
        assert scenario.is_new_visitor is True
        assert scenario.url_patterns == ["/product/*/reviews", "/cart"]
        assert scenario.referrer_contains == ["google.", "bing."]
        assert scenario.location_contains == ["Poland"]
        url = f"/widgets/{row.id}/invitations/{scenario.id}"
        assert created.headers["location"] == f"{url}?saved=1"

        page = await admin.get(url)
        assert page.status_code == 200
        assert '<option value="new" selected>' in page.text
        assert "/product/*/reviews\n/cart</textarea>" in page.text
        # Blank numbers are "any"; "returning" is false; unchecked boxes are off.
        form = _scenario_form(
            _csrf(page),
            min_time_on_site_seconds="",
            max_invitations_seen="",
            is_new_visitor="returning",
            url_patterns="",
        )
        del form["requires_agent_online"]
        edited = await admin.post(url, data=form)
        assert edited.status_code == 303, edited.text
        changed = await _row(api, ChatInvitationScenario, scenario.id)
        assert changed.min_time_on_site_seconds is None
        assert changed.max_invitations_seen is None
        assert changed.is_new_visitor is False
        assert changed.requires_agent_online is False
        assert changed.url_patterns == []

        listing = await admin.get(f"/widgets/{row.id}/invitations")
        assert f'<a href="{url}">Reviews</a>' in listing.text
        assert "<td>Need help choosing?</td>" in listing.text
        deleted = await admin.post(f"{url}/delete", data={"csrf_token": _csrf(listing)})
        assert deleted.status_code == 303
        assert deleted.headers["location"] == f"/widgets/{row.id}/invitations?deleted=1"
        assert (await admin.get(url)).status_code == 404
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        assert await db.scalar(select(ChatInvitationScenario)) is None


async def test_a_refused_invitation_shows_its_errors_and_keeps_the_values(api: Api) -> None:
    row = await _widget(api)
    async with _signed_in(api, Role.ADMIN) as admin:
        blank = await admin.get(f"/widgets/{row.id}/invitations/new")
        refused = await admin.post(
            f"/widgets/{row.id}/invitations/new",
            data=_scenario_form(
                _csrf(blank), message="  ", min_time_on_page_seconds="-5", name="Kept"
            ),
        )
        assert refused.status_code == 422
        assert _error_of(refused, "message")
        assert "0" in _error_of(refused, "min_time_on_page_seconds")
        assert 'value="Kept"' in refused.text
        no_token = await admin.post(f"/widgets/{row.id}/invitations/new", data=_scenario_form(""))
        assert no_token.status_code == 403
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        assert await db.scalar(select(ChatInvitationScenario)) is None


async def test_supervisors_read_invitations_but_cannot_change_them(api: Api) -> None:
    row = await _widget(api)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        scenario = ChatInvitationScenario(widget_id=row.id, name="Cart", message="Hi!")
        db.add(scenario)
        await db.flush()
        scenario_id = scenario.id
    url = f"/widgets/{row.id}/invitations/{scenario_id}"
    async with _signed_in(api, Role.SUPERVISOR) as supervisor:
        listing = await supervisor.get(f"/widgets/{row.id}/invitations")
        assert listing.status_code == 200
        assert f'<a href="{url}">Cart</a>' in listing.text
        assert "/delete" not in listing.text
        page = await supervisor.get(url)
        assert page.status_code == 200
        assert "<fieldset disabled>" in page.text
        token = _csrf(page)
        assert (await supervisor.post(url, data=_scenario_form(token))).status_code == 403
        deleting = await supervisor.post(f"{url}/delete", data={"csrf_token": token})
        assert deleting.status_code == 403
    assert (await _row(api, ChatInvitationScenario, scenario_id)).name == "Cart"


async def test_an_invitation_of_another_widget_is_not_found_here(api: Api) -> None:
    row = await _widget(api)
    async with api.app.state.runtime.database.transaction() as db:  # type: ignore[attr-defined]
        other = ChatWidget(name="Blog", public_key="w_pages_blog", queue_id=row.queue_id)
        db.add(other)
        await db.flush()
        scenario = ChatInvitationScenario(widget_id=other.id, name="Blog", message="Hi!")
        db.add(scenario)
        await db.flush()
        scenario_id = scenario.id
    async with _signed_in(api, Role.ADMIN) as admin:
        page = await admin.get(f"/widgets/{row.id}/invitations/new")
        url = f"/widgets/{row.id}/invitations/{scenario_id}"
        assert (await admin.get(url)).status_code == 404
        deleting = await admin.post(f"{url}/delete", data={"csrf_token": _csrf(page)})
        assert deleting.status_code == 404
    assert (await _row(api, ChatInvitationScenario, scenario_id)).name == "Blog"
