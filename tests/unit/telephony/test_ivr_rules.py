"""IVR menus: which key leads where, and what no key or a wrong key does."""

from __future__ import annotations

from types import SimpleNamespace

from parley.telephony.ivr import Menu, Step, next_step

MENU = Menu.from_row(
    SimpleNamespace(
        id=1,
        name="Main",
        prompt="",
        timeout_seconds=5,
        attempts=2,
        options=[
            {"digit": "1", "label": "Billing", "action": "queue", "target_id": 7},
            {"digit": "2", "label": "More", "action": "menu", "target_id": 3},
            {"digit": "#", "label": "", "action": "hangup"},
        ],
    )
)


def test_a_key_leads_to_its_option_and_is_named_for_the_agent() -> None:
    assert next_step(MENU, "1", 1) == Step("queue", 7, "1 Billing")
    assert next_step(MENU, "2", 2) == Step("menu", 3, "2 More")
    assert next_step(MENU, "#", 1) == Step("hangup", None, "#")


def test_no_key_or_a_wrong_one_asks_again_then_falls_back_to_the_numbers_queue() -> None:
    assert next_step(MENU, "", 1) == Step("again")
    assert next_step(MENU, "9", 1) == Step("again")
    assert next_step(MENU, "", 2) == Step("default")
