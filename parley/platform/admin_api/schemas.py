"""Wire shapes every admin resource shares: the page of a list, update schemas derived
from create schemas, and field errors found after parsing (a reference that does not
exist, a phone number that needs the database's settings to read)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model
from pydantic.fields import FieldInfo

ItemT = TypeVar("ItemT")
SchemaT = TypeVar("SchemaT", bound=BaseModel)

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Description = Annotated[str, Field(max_length=500)]


class Input(BaseModel):
    """A request body: a misspelt field is an error, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class Page(BaseModel, Generic[ItemT]):
    """One page of a list; `total` counts every match, not only this page."""

    items: list[ItemT]
    total: int
    limit: int
    offset: int


class ListQuery(BaseModel):
    """The query parameters every list takes; each resource adds its filters."""

    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="Page size.")
    offset: int = Field(0, ge=0, description="Items to skip.")
    sort: str | None = Field(None, description="A sortable field; prefix `-` to reverse.")
    q: str | None = Field(None, min_length=1, max_length=200, description="Search text.")


def partial(create: type[SchemaT]) -> type[SchemaT]:
    """The update schema of a create schema: every field optional, nothing else loosened.

    A field left out keeps its value (PATCH reads `model_dump(exclude_unset=True)`); a
    field sent must still be valid, so `null` is refused where the create schema refuses
    it. Validators are inherited, and they only run on values actually sent.
    """
    fields: dict[str, Any] = {
        name: (
            info.annotation,
            FieldInfo.merge_field_infos(info, default=None, default_factory=None),
        )
        for name, info in create.model_fields.items()
    }
    name = create.__name__.removesuffix("Create") + "Update"
    return create_model(name, __base__=create, __module__=create.__module__, **fields)


def invalid(
    location: Sequence[str | int], message: str, value: object = None, *, part: str = "body"
) -> RequestValidationError:
    """A 422 for one field of the body (or of the `query`), shaped like the errors
    pydantic reports while parsing."""
    return RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": (part, *location),
                "msg": message,
                "input": value,
            }
        ]
    )
