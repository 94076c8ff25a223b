"""Langfuse traces: a span per node, a generation per model call, one trace per turn of a thread.

Off unless LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY are set: then no client exists and no handler
is attached (the SDK would log an error per handler otherwise; field notes §3). Export runs on the
SDK's background thread, batched, and is flushed at shutdown, never on a request: a dead or slow host
costs runs nothing.

A run's trace id is derived from its thread and the run that began the turn, and kept in the run's
metadata (`langfuse_trace_id`, and `langfuse_trace_url` when LANGFUSE_BASE_URL is known): the run
that resumes an approval takes the paused run's id, so a turn that waited for a person, in any
process, after any restart, is one trace with one root per run.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from handrail.logs import redact
from handrail.settings import Settings

logger = logging.getLogger("handrail.tracing")

TRACE_ID = "langfuse_trace_id"
TRACE_URL = "langfuse_trace_url"


class Tracer:
    """The process's Langfuse client and what a run needs from it."""

    def __init__(self, settings: Settings) -> None:
        from langfuse import Langfuse

        assert settings.langfuse_public_key and settings.langfuse_secret_key
        self._public_key = settings.langfuse_public_key
        self._base_url = settings.langfuse_base_url
        self.client = Langfuse(
            public_key=settings.langfuse_public_key,
            secret_key=settings.langfuse_secret_key.get_secret_value(),
            base_url=settings.langfuse_base_url,
            mask=_mask,  # tool arguments and answers leave the process with emails masked, secrets dropped
        )

    @staticmethod
    def trace_id(thread_id: object, turn_run_id: object) -> str:
        from langfuse import Langfuse

        return Langfuse.create_trace_id(seed=f"{thread_id}:{turn_run_id}")

    def metadata(self, trace_id: str) -> dict[str, str]:
        """What a run's metadata carries about its trace."""
        found = {TRACE_ID: trace_id}
        if self._base_url:
            found[TRACE_URL] = f"{self._base_url.rstrip('/')}/trace/{trace_id}"
        return found

    def handler(self, trace_id: str) -> Any:
        from langfuse.langchain import CallbackHandler

        return CallbackHandler(public_key=self._public_key, trace_context={"trace_id": trace_id})

    def score(self, trace_id: str, name: str, value: float | str, comment: str | None = None) -> None:
        """Queued with the spans; never raises into a run."""
        try:
            if isinstance(value, str):
                self.client.create_score(
                    name=name, value=value, trace_id=trace_id, data_type="CATEGORICAL", comment=comment
                )
            else:
                self.client.create_score(
                    name=name, value=float(value), trace_id=trace_id, data_type="NUMERIC", comment=comment
                )
        except Exception:
            logger.warning("tracing.score_failed", extra={"score": name}, exc_info=True)

    def approval(self, trace_id: str, approval: dict[str, Any]) -> None:
        """The wait for a person, in the turn's trace: an event with who decided what and when, and a score."""
        try:
            self.client.create_event(
                trace_context={"trace_id": trace_id},
                name="approval",
                input={
                    "tool": approval.get("tool"),
                    "args": approval.get("args"),
                    "requested_at": approval.get("created_at"),
                },
                output={"decision": approval.get("status"), "args": approval.get("decided_args")},
                metadata={
                    "approval_id": str(approval.get("approval_id")),
                    "decided_by": approval.get("decided_by"),
                    "decided_at": approval.get("decided_at"),
                    "reason": approval.get("reason"),
                },
            )
        except Exception:
            logger.warning("tracing.approval_failed", exc_info=True)
        self.score(trace_id, "approval", str(approval.get("status")))

    async def flush(self) -> None:
        """Blocks up to LANGFUSE_TIMEOUT on a dead host: off the event loop, and only at shutdown or in tests."""
        await asyncio.to_thread(self.client.flush)

    async def close(self) -> None:
        await asyncio.to_thread(self.client.shutdown)


def open_tracer(settings: Settings) -> Tracer | None:
    if not (settings.langfuse_public_key and settings.langfuse_secret_key):
        return None
    return Tracer(settings)


def run_trace_id(run: dict[str, Any]) -> str | None:
    value = (run.get("metadata") or {}).get(TRACE_ID)
    return value if isinstance(value, str) else None


def _mask(*, data: Any, **kwargs: Any) -> Any:
    return redact(data)
