"""The OpenAPI document types every answer: a client generator gets a model for each JSON response, and a route
added without one fails here."""

from __future__ import annotations

from typing import Any

from handrail.settings import Settings
from server import create_app

# Prometheus' text exposition, not JSON.
NOT_JSON = {("GET", "/metrics")}
NO_BODY = {"202", "204"}
SSE = "text/event-stream; charset=utf-8"  # the stream routes document their answer as this


def _document() -> dict[str, Any]:
    return create_app(Settings(database_url="postgresql://unused@127.0.0.1/unused")).openapi()


def _typed(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A $ref, a scalar, or a list or map of typed things; not `{}` nor a free-form object."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return bool(components[name].get("properties"))
    if "anyOf" in schema:
        return any(_typed(s, components) for s in schema["anyOf"] if s.get("type") != "null")
    kind = schema.get("type")
    if kind in ("integer", "number", "string", "boolean"):
        return True
    if kind == "array":
        return _typed(schema.get("items", {}), components)
    if kind == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and _typed(extra, components))
    return False


def test_every_json_route_documents_a_typed_response_schema() -> None:
    document = _document()
    components = document["components"]["schemas"]
    untyped = []
    checked = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            successes = {code: r for code, r in operation["responses"].items() if code.startswith("2")}
            assert successes, f"{method.upper()} {path} documents no 2xx answer"
            for code, answer in successes.items():
                content = answer.get("content", {})
                if code in NO_BODY or (method.upper(), path) in NOT_JSON or SSE in content:
                    continue
                checked += 1
                schema = content.get("application/json", {}).get("schema", {})
                if not _typed(schema, components):
                    untyped.append(f"{method.upper()} {path} {code}: {schema}")
    assert not untyped, "responses without a typed schema (declare a response model):\n" + "\n".join(untyped)
    assert checked > 40, checked


def test_keys_a_response_may_leave_out_are_not_required() -> None:
    """A new thread has no `interrupts`/`error`, a copy no `values`, a running run no `summary`: the schema must not
    promise them, or a generated client would reject real answers."""
    schemas = _document()["components"]["schemas"]
    assert not {"values", "interrupts", "error"} & set(schemas["Thread"]["required"])
    assert {"thread_id", "status", "created_at"} <= set(schemas["Thread"]["required"])
    assert "summary" not in schemas["Run"]["required"]
    assert "required" not in schemas["ThreadSelection"], "select may leave out any key"
    assert schemas["Thread"]["properties"]["created_at"]["format"] == "date-time"
