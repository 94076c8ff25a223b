"""The input guardrail at the door: a run whose user messages a guardrail refuses is never created.

400 with `{"detail", "guardrail", "blocked": true}`, counted and audited. The graph checks the same
messages again where they are acted on (the plan node), since state updates can carry them too."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from langchain_core.messages import HumanMessage, convert_to_messages

import guardrails.input as input_guard
from guardrails.audit_event import GUARDRAIL_BLOCK, AuditEvent
from handrail import audit
from handrail.api.limits import payload_messages
from handrail.auth import Principal
from handrail.errors import Blocked
from handrail.services import Services


async def screen_input(
    services: Services, principal: Principal, thread_id: str | None, payloads: Iterable[tuple[str, Any]]
) -> None:
    """Raise Blocked for the first user message the input guardrail refuses."""
    for where, raw in payload_messages(payloads):
        message = convert_to_messages([raw])[0]  # check_messages has already proved this converts
        if not isinstance(message, HumanMessage):
            continue
        verdict = input_guard.check(message.text, max_chars=services.settings.max_message_chars)
        if not verdict.blocked:
            continue
        services.metrics.guardrails.labels(verdict.guardrail, "blocked").inc()
        await audit.record(
            services.pool,
            AuditEvent(
                kind=GUARDRAIL_BLOCK,
                actor=principal.user_id,
                thread_id=thread_id,
                outcome="refused",
                detail={"guardrails": [verdict.guardrail], "where": where, "detail": verdict.detail},
            ),
        )
        raise Blocked(f"{where} was refused by the input guardrail: {verdict.detail}", str(verdict.guardrail))
