"""Cases in the desktop (F-CS-1) in Chromium, the way an agent works them: find a case
by filters, open it, read its timeline (a chat on it is there), add a note, change its
status, priority and tags, and see all of it in the case as stored and in the timeline;
merge it into another case."""

from __future__ import annotations

from typing import Any

from playwright.async_api import expect
from sqlalchemy import select

from parley.platform.models import Case, CasePriority, CaseStatus, Message, MessageKind
from tests.e2e.conftest import Parley, Screens, log_in


async def _case(parley: Parley, case_id: int) -> Case:
    async with parley.app.state.runtime.database.transaction() as db:
        row: Case = await db.get_one(Case, case_id)
        return row


async def test_agent_opens_a_case_adds_a_note_and_changes_its_status(
    page: Any, parley: Parley, screens: Screens
) -> None:
    case_id = parley.seeded.case_id
    await parley.offer_chat()  # a chat on the case: one interaction of its timeline
    await log_in(page, parley)
    await page.get_by_role("tab", name="Cases").click()
    cases = page.locator("#side-cases")
    filters = cases.locator("form.case-filters")
    row = cases.locator(f".case-row[data-case-id='{case_id}']")
    await expect(row).to_contain_text("Refund for March")
    await expect(row).to_contain_text("New")

    # Filters: resolved ones only hides it, open statuses show it again.
    await filters.get_by_label("Status", exact=True).select_option(label="Resolved")
    await expect(row).to_have_count(0)
    await expect(cases.locator(".case-list")).to_contain_text("No cases match.")
    await filters.get_by_label("Status", exact=True).select_option(label="New")
    await filters.get_by_label("Assignee", exact=True).select_option(label="Unassigned")
    await expect(row).to_be_visible()
    await screens.shot(page, "list")

    await row.get_by_role("button").click()
    await expect(cases.locator(".case-title")).to_have_text(f"Case #{case_id} Refund for March")
    timeline = cases.locator(".case-timeline")
    await expect(timeline.locator(".is-interaction.channel-chat")).to_have_count(1)
    await expect(timeline).to_contain_text("Chat")

    await cases.get_by_label("Add a note").fill("Customer sent the receipt by post.")
    await cases.get_by_role("button", name="Add note").click()
    await expect(page.locator(".toast").last).to_contain_text("Note added.")
    await expect(timeline).to_contain_text("Customer sent the receipt by post.")

    edit = cases.locator("form.case-edit")
    await edit.get_by_label("Status", exact=True).select_option(label="Pending")
    await edit.get_by_label("Priority", exact=True).select_option(label="High")
    await edit.get_by_label("Tags", exact=True).fill("refund, Post")
    await edit.get_by_label("Custom fields").fill("order=A-17")
    await edit.get_by_role("button", name="Save").click()
    await expect(page.locator(".toast").last).to_contain_text("Case saved.")
    await expect(edit.get_by_label("Status", exact=True)).to_have_value("pending")
    await expect(edit.get_by_label("Tags", exact=True)).to_have_value("refund, post")
    await screens.shot(page, "case")

    stored = await _case(parley, case_id)
    assert stored.status is CaseStatus.PENDING and stored.priority is CasePriority.HIGH
    assert stored.tags == ["refund", "post"] and stored.custom_fields == {"order": "A-17"}
    async with parley.app.state.runtime.database.transaction() as db:
        notes = await db.scalars(
            select(Message.body_text).where(
                Message.case_id == case_id, Message.kind == MessageKind.NOTE
            )
        )
        assert list(notes) == ["Customer sent the receipt by post."]

    # Back to the list: the tag filter finds it with its new status.
    await cases.get_by_role("button", name="Back to the list").click()
    await filters.get_by_label("Status", exact=True).select_option(label="Pending")
    await filters.get_by_label("Assignee", exact=True).select_option(label="Anyone")
    await filters.get_by_label("Tag", exact=True).fill("post")
    await filters.get_by_label("Tag", exact=True).press("Enter")
    await expect(row).to_contain_text("Pending")
    await expect(row.locator(".tag")).to_have_text(["refund", "post"])


async def test_agent_merges_a_case_into_another(page: Any, parley: Parley) -> None:
    created = await parley.supervisor.post(
        "/api/cases", json={"subject": "Refund again", "queue_id": parley.seeded.queue_id}
    )
    assert created.status_code == 201, created.text
    duplicate = created.json()["id"]
    await log_in(page, parley)
    await page.get_by_role("tab", name="Cases").click()
    cases = page.locator("#side-cases")
    await cases.locator(f".case-row[data-case-id='{duplicate}'] button").click()
    await cases.get_by_label("Merge into case number").fill(str(parley.seeded.case_id))
    page.once("dialog", lambda dialog: dialog.accept())
    await cases.get_by_role("button", name="Merge", exact=True).click()
    await expect(page.locator(".toast").last).to_contain_text(
        f"Merged into case #{parley.seeded.case_id}."
    )
    await expect(cases.locator(".case-title")).to_contain_text("Refund for March")
    merged = await _case(parley, duplicate)
    assert merged.merged_into_id == parley.seeded.case_id
    assert merged.status is CaseStatus.CLOSED
