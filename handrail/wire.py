"""Types the response models share: timestamps written as they always were, interrupts, and the item of a
search page whose `select` may leave any key out."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema, create_model

# `datetime.isoformat()` ("…+00:00"), as the API wrote its timestamps before it had models; pydantic's own
# JSON form would write "…Z". Python-mode dumps keep the datetime.
Timestamp = Annotated[
    datetime,
    PlainSerializer(datetime.isoformat, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class Interrupt(BaseModel):
    """A pending `interrupt()`: its value (an approval request, for this agent) and its id, which a resume names."""

    value: Any
    id: str


def _absent() -> None:
    return None


def selection_of(model: type[BaseModel]) -> type[BaseModel]:
    """The item of a search page: `model` with every key optional, since `select` returns only the keys it names.
    Routes answer with `response_model_exclude_unset=True`, so a key not selected is absent, not null."""
    fields: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        kind = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        # A factory, not a default: the schema then shows no default (the key is absent when not selected, never
        # null), and never runs it, since a page's items are validated only from the keys they have.
        fields[name] = (kind, Field(default_factory=_absent, description=info.description))
    selection: type[BaseModel] = create_model(  # type: ignore[call-overload]
        f"{model.__name__}Selection",
        __doc__=f"A {model.__name__} with only the keys named in `select` (every key when `select` is not given).",
        **fields,
    )
    return selection
