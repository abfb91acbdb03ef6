"""IVR menus as Parley plays them over FastAGI (F-VO-1): the pure rules.

A menu is read from its row (`IvrMenu`) into `Menu`; `next_step` says what a key (or no
key) leads to. The AGI dialogue that plays prompts and reads keys is in `voice.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["queue", "menu", "hangup"]
DIGITS = "0123456789*#"


@dataclass(frozen=True)
class MenuOption:
    digit: str
    label: str
    action: Action
    target_id: int | None = None


@dataclass(frozen=True)
class Menu:
    menu_id: int
    name: str
    prompt: str
    timeout_seconds: int
    attempts: int
    options: tuple[MenuOption, ...]

    @classmethod
    def from_row(cls, row: Any) -> Menu:
        options = tuple(
            MenuOption(
                str(option["digit"]),
                str(option.get("label", "")),
                option["action"],
                option.get("target_id"),
            )
            for option in row.options
        )
        return cls(row.id, row.name, row.prompt, row.timeout_seconds, row.attempts, options)


@dataclass(frozen=True)
class Step:
    """What happens next: go to a queue or a menu, hang up, or ask again."""

    kind: Literal["queue", "menu", "hangup", "again", "default"]
    target_id: int | None = None
    chosen: str = ""  # the caller's choice as shown to the agent: "2 Sales"


def next_step(menu: Menu, digit: str, attempt: int) -> Step:
    """After the caller pressed `digit` ("" for no key) on try number `attempt` (from 1):
    the matching option; a wrong key or none asks again until `attempts` is spent, then
    the number's own queue ("default")."""
    for option in menu.options:
        if option.digit == digit:
            chosen = f"{option.digit} {option.label}".strip()
            return Step(option.action, option.target_id, chosen)
    if attempt < menu.attempts:
        return Step("again")
    return Step("default")
