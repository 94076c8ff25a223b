"""A stand-in for the Langfuse host on 127.0.0.1: records the OTLP spans and the scores the SDK posts."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.webhook_receiver import Receiver, running_receiver


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass
class LangfuseHost:
    receiver: Receiver
    url: str

    def spans(self) -> list[Span]:
        found = []
        for request in self.receiver.requests:
            if "protobuf" not in request.headers.get("content-type", ""):
                continue
            body = request.body
            if request.headers.get("content-encoding") == "gzip":
                body = gzip.decompress(body)
            export = ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        found.append(
                            Span(
                                span.name,
                                span.trace_id.hex(),
                                span.span_id.hex(),
                                span.parent_span_id.hex(),
                                {a.key: _value(a.value) for a in span.attributes},
                            )
                        )
        return found

    def scores(self) -> list[dict[str, Any]]:
        found = []
        for request in self.receiver.requests:
            if request.headers.get("content-type", "").startswith("application/json"):
                data = json.loads(gzip.decompress(request.body) if request.body[:2] == b"\x1f\x8b" else request.body)
                found += data if isinstance(data, list) else [data]
        return found


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    return getattr(value, kind) if kind else None


@asynccontextmanager
async def langfuse_host() -> AsyncIterator[LangfuseHost]:
    async with running_receiver() as receiver:
        yield LangfuseHost(receiver, receiver.url.removesuffix("/hooks"))
