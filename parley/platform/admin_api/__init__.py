"""The admin REST API: lists with paging, filters, sort and search, and audited
create/read/update/delete, for users and their skills, teams, skills, queues,
schedules, reason codes, dispositions, quick replies, contacts, chat widgets, voice
numbers, IVR menus, blocked callers and mailboxes.

`resources.py` is the one generic mechanism; each other module declares a group of
nouns with their schemas and rules: `directory` (people), `routing` (routing
configuration), `contacts`, `quick_replies`, `chat_widgets`, `voice`, `email_accounts`.
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.platform.admin_api import (
    chat_invitations,
    chat_widgets,
    contacts,
    directory,
    email_accounts,
    quick_replies,
    routing,
    voice,
)


def routers() -> list[APIRouter]:
    return [
        *directory.routers(),
        *routing.routers(),
        *quick_replies.routers(),
        *contacts.routers(),
        *chat_widgets.routers(),
        *chat_invitations.routers(),
        *voice.routers(),
        *email_accounts.routers(),
    ]
