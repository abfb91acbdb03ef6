"""Contacts: the customers, with the identities (phones, emails, chat visitor ids) that
let an incoming call, mail or chat find them.

An identity belongs to one contact only: adding one another contact has is a 409 naming
that contact. Phones without +country are read in `Settings.default_phone_region`. Every
role reads, creates and changes contacts; only admins delete them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import selectinload

from parley.platform.admin_api.identities import (
    IdentityKind,
    normalize_email,
    normalize_identity,
    normalize_phone,
)
from parley.platform.admin_api.resources import (
    Access,
    Context,
    Filter,
    Resource,
    contains_pattern,
)
from parley.platform.admin_api.schemas import Input, invalid
from parley.platform.errors import Conflict
from parley.platform.models import Contact, ContactIdentity, User
from parley.platform.web.deps import ADMINS, ALL_ROLES

CustomFields = dict[Annotated[str, Field(min_length=1, max_length=100)], Any]


class IdentityIn(Input):
    kind: IdentityKind
    value: str = Field(
        min_length=1,
        max_length=320,
        description="A phone (stored in E.164), an email (stored lower case) or a chat visitor id.",
    )


class ContactCreate(Input):
    name: str = Field("", max_length=200)
    company: str = Field("", max_length=200)
    notes: str = Field("", max_length=10_000)
    custom_fields: CustomFields = Field(default_factory=dict)
    personal_manager_id: int | None = Field(
        None, description="The agent this customer is routed to first."
    )
    identities: list[IdentityIn] = Field(
        default_factory=list, max_length=50, description="Replaced as a whole on update."
    )


class IdentityOut(BaseModel):
    kind: str
    value: str


class ContactOut(BaseModel):
    id: int
    name: str
    company: str
    notes: str
    custom_fields: dict[str, Any]
    personal_manager_id: int | None
    identities: list[IdentityOut]
    created_at: datetime
    updated_at: datetime


class IdentityTaken(Conflict):
    def __init__(self, kind: str, value: str, contact_id: int, name: str) -> None:
        owner = f"contact {contact_id}" + (f" ({name})" if name else "")
        super().__init__("identity_taken", f"The {kind} {value} already belongs to {owner}.")
        self.contact_id = contact_id


def _has_identity(kind: IdentityKind, value: str) -> ColumnElement[bool]:
    return Contact.identities.any(
        and_(ContactIdentity.kind == kind.value, ContactIdentity.value == value)
    )


def _has_phone(ctx: Context, raw: str) -> ColumnElement[bool]:
    try:
        phone = normalize_phone(raw, ctx.runtime.settings.default_phone_region)
    except ValueError as exc:
        raise invalid(("phone",), str(exc), raw, part="query") from exc
    return _has_identity(IdentityKind.PHONE, phone)


def _has_email(_ctx: Context, raw: str) -> ColumnElement[bool]:
    try:
        email = normalize_email(raw)
    except ValueError as exc:
        raise invalid(("email",), str(exc), raw, part="query") from exc
    return _has_identity(IdentityKind.EMAIL, email)


class ContactResource(Resource[Contact]):
    def search_clause(self, ctx: Context, term: str) -> ColumnElement[bool]:
        clauses = [
            super().search_clause(ctx, term),
            Contact.identities.any(
                ContactIdentity.value.ilike(contains_pattern(term), escape="\\")
            ),
        ]
        try:  # "601 000 000" finds +48601000000
            phone = normalize_phone(term, ctx.runtime.settings.default_phone_region)
        except ValueError:
            pass
        else:
            clauses.append(_has_identity(IdentityKind.PHONE, phone))
        return or_(*clauses)

    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: Contact | None
    ) -> dict[str, Any]:
        if "identities" in values:
            values["identities"] = await self._identities(ctx, values["identities"], row)
        return values

    async def _identities(
        self, ctx: Context, sent: list[dict[str, Any]], row: Contact | None
    ) -> list[ContactIdentity]:
        region = ctx.runtime.settings.default_phone_region
        wanted: dict[tuple[str, str], None] = {}  # ordered, without duplicates
        for index, item in enumerate(sent):
            try:
                value = normalize_identity(item["kind"], item["value"], region)
            except ValueError as exc:
                raise invalid(("identities", index, "value"), str(exc), item["value"]) from exc
            wanted[(item["kind"].value, value)] = None
        if wanted:
            statement = (
                select(ContactIdentity.kind, ContactIdentity.value, Contact.id, Contact.name)
                .join(Contact, Contact.id == ContactIdentity.contact_id)
                .where(
                    or_(
                        *(
                            and_(ContactIdentity.kind == kind, ContactIdentity.value == value)
                            for kind, value in wanted
                        )
                    )
                )
            )
            if row is not None:
                statement = statement.where(ContactIdentity.contact_id != row.id)
            taken = (await ctx.db.execute(statement.limit(1))).first()
            if taken is not None:
                raise IdentityTaken(*taken)
        # Keep the rows already there: deleting and re-adding the same identity in one
        # flush would trip the unique constraint.
        current = (
            {(identity.kind, identity.value): identity for identity in row.identities}
            if row
            else {}
        )
        return [current.get(key) or ContactIdentity(kind=key[0], value=key[1]) for key in wanted]


contacts = ContactResource(
    model=Contact,
    path="/api/contacts",
    noun="contact",
    create=ContactCreate,
    out=ContactOut,
    access=Access(read=ALL_ROLES, write=ALL_ROLES, delete=ADMINS),
    filters={
        "phone": Filter(str, _has_phone, "A phone number, in any format."),
        "email": Filter(str, _has_email, "An email address, in any case."),
        "personal_manager_id": Filter(int),
    },
    sortable=("name", "company", "created_at", "updated_at"),
    search=("name", "company"),
    references={"personal_manager_id": User},
    load=(selectinload(Contact.identities),),
)


def routers() -> list[APIRouter]:
    return [contacts.router()]
