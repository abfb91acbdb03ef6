"""The one generic mechanism of the admin API: a `Resource` describes a collection and
`Resource.router()` serves it.

A description names the model, URL, schemas, filters, sortable fields, searched columns,
unique fields, references to other rows, write-only fields and the roles allowed per
operation. The router it builds has five routes:

    GET    /api/<plural>?limit=&offset=&sort=&q=&<filter>=   a `Page` of items
    GET    /api/<plural>/{id}
    POST   /api/<plural>                                      201 with the object
    PATCH  /api/<plural>/{id}                                 only the fields sent
    DELETE /api/<plural>/{id}                                 204

Every write is audited with the changed fields (old -> new, secrets redacted). A noun
with rules of its own subclasses `Resource` and overrides a hook (`visible`, `prepare`,
`after_update`, `before_delete`, `search_clause`); paging, 404, 409, 422 and auditing
stay here, written once.
"""

# No `from __future__ import annotations`: the endpoints are built per resource, and
# FastAPI must find their parameter types as objects, not as names of local variables.

import re
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field, create_model
from pydantic_core import to_jsonable_python
from sqlalchemy import JSON, ColumnElement, delete, func, or_, select
from sqlalchemy import inspect as inspect_mapping
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.orm.interfaces import ORMOption

from parley.platform import audit
from parley.platform.admin_api.schemas import ListQuery, Page, invalid, partial
from parley.platform.auth.principal import Principal
from parley.platform.bus import Event
from parley.platform.db import after_commit
from parley.platform.db.base import Base
from parley.platform.errors import Conflict, NotFound
from parley.platform.models import Role
from parley.platform.runtime import Runtime
from parley.platform.web.deps import (
    ADMINS,
    ALL_ROLES,
    SUPERVISORS,
    DbDep,
    RuntimeDep,
    client_ip,
    require_roles,
)

ModelT = TypeVar("ModelT", bound=Base)
EndpointT = TypeVar("EndpointT", bound=Callable[..., Any])

# Bookkeeping, not changes anyone made: left out of audit diffs.
NOT_AUDITED = frozenset({"id", "created_at", "updated_at"})


@dataclass(frozen=True)
class Context:
    """The request a resource serves: its transaction, caller, runtime, client address."""

    db: AsyncSession
    principal: Principal
    runtime: Runtime
    ip: str

    async def record_change(
        self, action: str, entity: str, entity_id: object, changes: dict[str, Any]
    ) -> None:
        """Audit an admin change and, once it is committed, announce it on the bus as
        `config.<entity>.<action>` (the engine re-reads its routing setup on these)."""
        await audit.record(self.db, self.principal, action, entity, entity_id, changes, ip=self.ip)
        event = Event.create(f"config.{entity}.{action}", {"id": str(entity_id)})
        bus = self.runtime.bus

        async def announce() -> None:
            await bus.publish(event)

        after_commit(self.db, announce)


def context_for(roles: Sequence[Role]) -> Callable[..., Coroutine[Any, Any, Context]]:
    """A dependency admitting `roles` (through `require_roles`, which the role matrix
    test finds) and handing the endpoint a `Context`."""
    requirement = require_roles(*roles)

    async def context(
        principal: Annotated[Principal, Depends(requirement)],
        db: DbDep,
        runtime: RuntimeDep,
        request: Request,
    ) -> Context:
        return Context(db, principal, runtime, client_ip(request))

    return context


AnyUserContext = Annotated[Context, Depends(context_for(ALL_ROLES))]
SupervisorContext = Annotated[Context, Depends(context_for(SUPERVISORS))]
AdminContext = Annotated[Context, Depends(context_for(ADMINS))]


@dataclass(frozen=True)
class Access:
    """Who may do what; reading one item defaults to `read`, deleting to `write`."""

    read: Sequence[Role]
    write: Sequence[Role]
    get: Sequence[Role] | None = None
    delete: Sequence[Role] | None = None


@dataclass(frozen=True)
class Filter:
    """A query parameter narrowing a list: `<column> == value` unless `where` says how."""

    type: Any
    where: Callable[[Context, Any], ColumnElement[bool]] | None = None
    description: str = ""


@dataclass(frozen=True)
class Unique:
    """A field no two rows share among rows with equal `within` fields, where null counts
    as a value (two global dispositions may not share a code). A null `field` is not
    checked: many users may have no email."""

    field: str
    within: tuple[str, ...] = ()


class Duplicate(Conflict):
    """409: a unique field is taken; the message names the field."""

    def __init__(self, noun: str, field_name: str, value: object = None) -> None:
        taken = f"{field_name} {value!r}" if value is not None else f"this {field_name}"
        super().__init__("duplicate", f"Another {noun} already has {taken}.")
        self.field = field_name


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """The fields that differ, each as {"old": ..., "new": ...}."""
    return {
        key: {"old": before.get(key), "new": after.get(key)}
        for key in sorted(before.keys() | after.keys())
        if before.get(key) != after.get(key)
    }


def contains_pattern(term: str) -> str:
    """A LIKE pattern matching `term` anywhere, its own % and _ taken literally."""
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _typed(endpoint: EndpointT, **annotations: Any) -> EndpointT:
    """Give a generic endpoint its resource's parameter types.

    FastAPI parses and documents a request from the endpoint's annotations, and an
    endpoint shared by every resource learns its schemas only when a router is built;
    so they are set here, before the route is added.
    """
    endpoint.__annotations__ = {**endpoint.__annotations__, **annotations}
    return endpoint


@dataclass(kw_only=True, eq=False)
class Resource(Generic[ModelT]):
    """A REST collection over one model. See the module docstring."""

    model: type[ModelT]
    path: str  # "/api/teams"
    noun: str  # "team": messages, audit entity type, OpenAPI names
    create: type[BaseModel]
    out: type[BaseModel]
    access: Access
    update: type[BaseModel] | None = None  # default: `partial(create)`
    filters: Mapping[str, Filter] = field(default_factory=dict)
    sortable: Sequence[str] = ()
    search: Sequence[str] = ()
    unique: Sequence[Unique] = ()
    references: Mapping[str, type[Base]] = field(default_factory=dict)
    write_only: Sequence[str] = ()  # accepted, never returned; audited as "***"
    load: Sequence[ORMOption] = ()  # loader options for the relationships `out` shows

    def __post_init__(self) -> None:
        mapper = inspect_mapping(self.model)
        self._id_column = mapper.primary_key[0]
        self._id_key = mapper.get_property_by_column(self._id_column).key
        self._attributes = frozenset(mapper.attrs.keys())
        self._json_columns = frozenset(
            column.key for column in mapper.columns if isinstance(column.type, JSON)
        )
        self._update = self.update or partial(self.create)

    # --- names -----------------------------------------------------------------------

    @property
    def entity(self) -> str:
        """`reason_code`: the audit entity type, and `{reason_code_id}` in paths."""
        return self.noun.replace(" ", "_")

    @property
    def plural(self) -> str:
        return self.path.rsplit("/", 1)[-1].replace("-", "_")

    def _title(self, suffix: str) -> str:
        return "".join(word.capitalize() for word in self.entity.split("_")) + suffix

    # --- hooks -----------------------------------------------------------------------

    def visible(self, ctx: Context) -> ColumnElement[bool] | None:
        """The rows the caller may see; any other answers 404, as if it did not exist."""
        return None

    def search_clause(self, ctx: Context, term: str) -> ColumnElement[bool]:
        pattern = contains_pattern(term)
        return or_(*(self._column(name).ilike(pattern, escape="\\") for name in self.search))

    async def prepare(
        self, ctx: Context, values: dict[str, Any], row: ModelT | None
    ) -> dict[str, Any]:
        """Check a create (`row` is None) or an update of `row`, and turn the values sent
        into column values. Raise `invalid(...)` for a bad field and `Forbidden` for a
        change the caller may not make. References are already checked."""
        return values

    async def after_update(self, ctx: Context, row: ModelT, changes: dict[str, Any]) -> None:
        """React to an update once it is flushed (e.g. log a deactivated user out)."""

    async def before_delete(self, ctx: Context, row: ModelT) -> None:
        """Refuse a delete by raising, or tidy up what the database will not."""

    # --- operations ------------------------------------------------------------------

    async def page(self, ctx: Context, query: ListQuery) -> Page[Any]:
        where = self._where(ctx, query)
        total = await ctx.db.scalar(select(func.count()).select_from(self.model).where(*where))
        rows = await ctx.db.scalars(
            select(self.model)
            .where(*where)
            .options(*self.load)
            .order_by(*self._order(query.sort))
            .limit(query.limit)
            .offset(query.offset)
        )
        return Page[Any](
            items=[self.dump(row) for row in rows],
            total=total or 0,
            limit=query.limit,
            offset=query.offset,
        )

    async def find(self, ctx: Context, item_id: int) -> ModelT:
        """The row with `item_id` if the caller may see it, else `NotFound`."""
        statement = select(self.model).where(self._id_column == item_id).options(*self.load)
        if (visible := self.visible(ctx)) is not None:
            statement = statement.where(visible)
        row = await ctx.db.scalar(statement)
        if row is None:
            raise NotFound(self.noun.capitalize(), item_id)
        return row

    async def add(self, ctx: Context, body: BaseModel) -> BaseModel:
        values = await self._prepare(ctx, body.model_dump(), None)
        row = self.model()
        self._assign(row, values)
        ctx.db.add(row)
        await self._flush(ctx)
        out = self.dump(row)
        changes = {**diff({}, self._snapshot(out)), **self._secrets(body)}
        await self._audit(ctx, "create", out, changes)
        return out

    async def change(self, ctx: Context, item_id: int, body: BaseModel) -> BaseModel:
        row = await self.find(ctx, item_id)
        before = self._snapshot(self.dump(row))
        values = await self._prepare(ctx, body.model_dump(exclude_unset=True), row)
        self._assign(row, values)
        await self._flush(ctx)
        out = self.dump(row)
        changes = {**diff(before, self._snapshot(out)), **self._secrets(body)}
        if changes:
            await self.after_update(ctx, row, changes)
            await self._audit(ctx, "update", out, changes)
        return out

    async def remove(self, ctx: Context, item_id: int) -> None:
        row = await self.find(ctx, item_id)
        out = self.dump(row)
        await self.before_delete(ctx, row)
        try:
            # A bulk delete lets the database's ON DELETE rules handle dependent rows,
            # which the ORM could not load (relationships are lazy="raise").
            await ctx.db.execute(delete(self.model).where(self._id_column == item_id))
        except IntegrityError as exc:
            raise Conflict("in_use", f"{self.noun.capitalize()} {item_id} is in use.") from exc
        await self._audit(ctx, "delete", out, diff(self._snapshot(out), {}))

    def dump(self, row: ModelT) -> BaseModel:
        return self.out.model_validate(row, from_attributes=True)

    # --- the router ------------------------------------------------------------------

    def router(self) -> APIRouter:
        access = self.access
        reader = context_for(access.read)
        getter = context_for(access.get or access.read)
        writer = context_for(access.write)
        deleter = context_for(access.delete or access.write)
        item_path = "/{" + self.entity + "_id}"
        item_id = Path(alias=f"{self.entity}_id")
        noun, plural = self.noun, self.plural.replace("_", " ")
        errors: dict[int | str, dict[str, Any]] = {
            401: {"description": "Not logged in"},
            403: {"description": "The caller's role may not do this"},
        }
        found = {**errors, 404: {"description": f"No such {noun}"}}

        async def list_items(
            query: Annotated[ListQuery, Query()], ctx: Annotated[Context, Depends(reader)]
        ) -> Any:
            return await self.page(ctx, query)

        async def get_item(
            ctx: Annotated[Context, Depends(getter)], item: Annotated[int, item_id]
        ) -> Any:
            return self.dump(await self.find(ctx, item))

        async def create_item(body: BaseModel, ctx: Annotated[Context, Depends(writer)]) -> Any:
            return await self.add(ctx, body)

        async def update_item(
            body: BaseModel, ctx: Annotated[Context, Depends(writer)], item: Annotated[int, item_id]
        ) -> Any:
            return await self.change(ctx, item, body)

        async def delete_item(
            ctx: Annotated[Context, Depends(deleter)], item: Annotated[int, item_id]
        ) -> None:
            await self.remove(ctx, item)

        router = APIRouter(prefix=self.path, tags=[self.plural.replace("_", " ")])
        router.add_api_route(
            "",
            _typed(list_items, query=Annotated[self._query_model(), Query()]),
            methods=["GET"],
            response_model=Page.__class_getitem__(self.out),
            name=f"list_{self.plural}",
            summary=f"List {plural}",
            responses=errors,
        )
        router.add_api_route(
            item_path,
            get_item,
            methods=["GET"],
            response_model=self.out,
            name=f"get_{self.entity}",
            summary=f"Get a {noun}",
            responses=found,
        )
        router.add_api_route(
            "",
            _typed(create_item, body=self.create),
            methods=["POST"],
            status_code=201,
            response_model=self.out,
            name=f"create_{self.entity}",
            summary=f"Create a {noun}",
            responses={**errors, 409: {"description": "A unique field is taken"}},
        )
        router.add_api_route(
            item_path,
            _typed(update_item, body=self._update),
            methods=["PATCH"],
            response_model=self.out,
            name=f"update_{self.entity}",
            summary=f"Change some fields of a {noun}",
            responses={**found, 409: {"description": "A unique field is taken"}},
        )
        router.add_api_route(
            item_path,
            delete_item,
            methods=["DELETE"],
            status_code=204,
            response_class=Response,
            name=f"delete_{self.entity}",
            summary=f"Delete a {noun}",
            responses=found,
        )
        return router

    # --- internals -------------------------------------------------------------------

    def _column(self, name: str) -> InstrumentedAttribute[Any]:
        column: InstrumentedAttribute[Any] = getattr(self.model, name)
        return column

    def _query_model(self) -> type[ListQuery]:
        keys = "|".join(re.escape(name) for name in (self._id_key, *self.sortable))
        fields: dict[str, Any] = {
            "sort": (
                str | None,
                Field(
                    None,
                    pattern=rf"^-?({keys})$",
                    description="One of: "
                    + ", ".join((self._id_key, *self.sortable))
                    + "; prefix `-` to reverse.",
                ),
            )
        }
        if self.search:
            fields["q"] = (
                str | None,
                Field(
                    None,
                    min_length=1,
                    max_length=200,
                    description="Text found in any of: " + ", ".join(self.search) + ".",
                ),
            )
        for name, spec in self.filters.items():
            fields[name] = (spec.type | None, Field(None, description=spec.description))
        model: type[ListQuery] = create_model(
            self._title("ListQuery"), __base__=ListQuery, __module__=__name__, **fields
        )
        return model

    def _where(self, ctx: Context, query: ListQuery) -> list[ColumnElement[bool]]:
        clauses = []
        if (visible := self.visible(ctx)) is not None:
            clauses.append(visible)
        term = getattr(query, "q", None)
        if term:
            clauses.append(self.search_clause(ctx, term))
        for name, spec in self.filters.items():
            value = getattr(query, name)
            if value is None:
                continue
            clauses.append(spec.where(ctx, value) if spec.where else self._column(name) == value)
        return clauses

    def _order(self, sort: str | None) -> list[Any]:
        key = sort or self._id_key
        column = self._column(key.removeprefix("-"))
        order = [column.desc() if key.startswith("-") else column.asc()]
        if column is not self._column(self._id_key):
            order.append(self._column(self._id_key).asc())  # a stable order across pages
        return order

    async def _prepare(
        self, ctx: Context, values: dict[str, Any], row: ModelT | None
    ) -> dict[str, Any]:
        await self._check_references(ctx, values)
        values = await self.prepare(ctx, values, row)
        await self._check_unique(ctx, values, row)
        return values

    async def _check_references(self, ctx: Context, values: Mapping[str, Any]) -> None:
        for name, target in self.references.items():
            value = values.get(name)
            if value is not None and await ctx.db.get(target, value) is None:
                raise invalid((name,), f"{target.__name__} {value} does not exist.", value)

    async def _check_unique(
        self, ctx: Context, values: Mapping[str, Any], row: ModelT | None
    ) -> None:
        for key in self.unique:
            names = (key.field, *key.within)
            if not any(name in values for name in names):
                continue
            wanted = {
                name: values.get(name) if name in values or row is None else getattr(row, name)
                for name in names
            }
            if wanted[key.field] is None:
                continue
            statement = select(self._id_column).where(
                *(
                    self._column(name).is_(None) if value is None else self._column(name) == value
                    for name, value in wanted.items()
                )
            )
            if row is not None:
                statement = statement.where(self._id_column != getattr(row, self._id_key))
            if await ctx.db.scalar(statement.limit(1)) is not None:
                raise Duplicate(self.noun, key.field, wanted[key.field])

    def _assign(self, row: ModelT, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            if name not in self._attributes:
                raise TypeError(f"{self.noun}: no attribute {name!r}; translate it in prepare()")
            # JSON columns store what JSON can say: enums as values, dates as ISO text.
            setattr(row, name, to_jsonable_python(value) if name in self._json_columns else value)

    async def _flush(self, ctx: Context) -> None:
        """Write now, so a unique violation that slipped past the checks (a concurrent
        write) becomes a 409 naming the field, not a 500 at commit."""
        try:
            await ctx.db.flush()
        except IntegrityError as exc:
            message = str(exc.orig)
            table = self.model.__tablename__
            for key in self.unique:
                # SQLite names the columns ("teams.name"); PostgreSQL the constraint,
                # named by the convention in db/base.py ("uq_teams_name").
                columns = (key.field, *key.within)
                names = [f"{table}.{column}" for column in columns]
                names += [f'"uq_{table}_{column}"' for column in columns]
                if any(name in message for name in names):
                    raise Duplicate(self.noun, key.field) from exc
            raise Conflict("conflict", f"The {self.noun} conflicts with existing data.") from exc

    def _snapshot(self, out: BaseModel) -> dict[str, Any]:
        return out.model_dump(mode="json", exclude=set(NOT_AUDITED))

    def _secrets(self, body: BaseModel) -> dict[str, Any]:
        return {name: "***" for name in self.write_only if name in body.model_fields_set}

    async def _audit(
        self, ctx: Context, action: str, out: BaseModel, changes: dict[str, Any]
    ) -> None:
        await ctx.record_change(action, self.entity, getattr(out, self._id_key), changes)
