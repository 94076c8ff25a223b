"""synthesize: write the final answer from the observations only, saying plainly what was not done.

The answer then passes the output guardrail (PII, claims no tool call backs, a requested JSON
format) before anyone reads it."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langgraph.runtime import Runtime

import guardrails.output as output_guard
from graph.context import AgentDeps, NodeFn, RunContext
from graph.state import AgentState
from guardrails import pii
from guardrails.verdict import Verdict
from llm.offline_rules import write_answer
from llm.protocol import embed, last_user_text
from llm.resilience import ModelsUnavailable
from llm.tokens import counter_for
from llm.usage import Usage, usage_of
from nodes.common import add_usage
from nodes.guards import admit_model_call, fired, note, stop, user_texts
from nodes.window import compact

logger = logging.getLogger("handrail.nodes")

PROMPT = """Answer the user's request using only the observations below: never add facts they do
not contain. If a step failed, was rejected by a reviewer, or the run stopped early (stop_reason),
say so plainly and say what was not done and why. Be concise."""
JSON_PROMPT = "\nAnswer with one JSON object only, no prose around it, matching this response_format."


def make_synthesize(deps: AgentDeps) -> NodeFn:
    count = counter_for(deps.models.planner, deps.context_tokenizer)  # the window is the planner's

    async def synthesize(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        update = await answer(state, runtime)
        ctx = deps.context(runtime)
        spent = {"tokens": update["tokens"], "cost_usd": update["cost_usd"]}  # the turn's, answer included

        async def ask(prompt: list[BaseMessage]) -> tuple[str, Usage] | None:
            admitted = await admit_model_call(deps, spent, ctx, deps.models.synthesizer, prompt)
            if admitted.blocked:
                return None  # out of budget: the rule writes the summary
            try:
                reply = await deps.models.synthesizer.ainvoke(prompt)
            except Exception as exc:  # the summary is bookkeeping: a failure must not fail the turn
                logger.warning("synthesize.summary_failed", extra={"reason": str(exc)[:200]})
                return None
            return str(reply.text), usage_of(reply, deps.prices)

        folded, used = await compact(
            state,
            update["messages"][0],
            ask=ask,
            max_turns=ctx.context_max_turns,
            max_tokens=ctx.context_max_tokens,
            state_max_messages=deps.state_max_messages,
            count=count,
        )
        if "messages" in folded:  # the summarized past removed, the answer appended
            folded["messages"] = [*folded["messages"], *update["messages"]]
        return {**update, **folded, **(add_usage(spent, used) if used.tokens else {})}

    async def answer(state: AgentState, runtime: Runtime[RunContext]) -> dict[str, Any]:
        ctx = deps.context(runtime)
        update: dict[str, Any] = {}
        if state.get("blocked") and str(state.get("guardrail") or "").startswith("input."):
            # The request itself was refused: no model reads it, not even to word the refusal.
            answer = f"I cannot act on this request: {state.get('stop_reason')}."
            return _answered(state, update, answer, Usage())
        data: dict[str, Any] = {"observations": state["observations"], "stop_reason": state.get("stop_reason")}
        if ctx.response_format is not None:
            data["response_format"] = ctx.response_format
        prompt: list[BaseMessage] = [
            SystemMessage(PROMPT + (JSON_PROMPT if ctx.response_format else "") + "\n" + embed(data)),
            HumanMessage(last_user_text(state["messages"])),
        ]
        answer, used, verdict = await _ask(deps, state, ctx, runtime, prompt, data)
        if verdict is not None:
            update |= stop(state, verdict)
            data["stop_reason"] = verdict.detail
        checked = _check(state, answer, ctx)
        if checked.blocked and used is not None:  # the format was wrong: asked once more, with the reason
            prompt.append(SystemMessage(f"Your previous answer was refused: {checked.detail}. Answer again."))
            again, more, _ = await _ask(deps, {**state, **add_usage(state, used)}, ctx, runtime, prompt, data)
            if more is not None:
                answer, used = again, used + more
                checked = _check(state, answer, ctx)
        if checked.blocked or fired(checked):
            await note(deps, runtime, checked)
            events = [*update.get("guardrail_events", state.get("guardrail_events", [])), *fired(checked)]
            update["guardrail_events"] = events
        if not checked.blocked and checked.value is not None:
            answer = checked.value
        return _answered(state, update, answer, used or Usage())

    return synthesize


async def _ask(
    deps: AgentDeps,
    state: Mapping[str, Any],
    ctx: RunContext,
    runtime: Runtime[RunContext],
    prompt: list[BaseMessage],
    data: dict[str, Any],
) -> tuple[str, Usage | None, Verdict | None]:
    """The model's answer and what it used, or the rule-written answer (with the budget verdict when
    it was the budget that kept the model from being asked)."""
    admitted = await admit_model_call(deps, state, ctx, deps.models.synthesizer, prompt)
    if admitted.blocked:
        await note(deps, runtime, admitted)
        return write_answer({**data, "stop_reason": admitted.detail}), None, admitted
    try:
        reply = await deps.models.synthesizer.ainvoke(prompt)
        return str(reply.text), usage_of(reply, deps.prices), None
    except ModelsUnavailable as exc:  # every answer model failed (each failure is logged by the chain)
        logger.warning("synthesize.model_failed", extra={"reason": str(exc)})
    except Exception:
        logger.exception("synthesize.model_failed")
    # The answer must never be a bare error: fall back to the grounded, rule-written answer.
    note_text = "(The answer model failed; this summary was written by rules.)"
    return f"{write_answer(data)}\n\n{note_text}", None, None


def _check(state: AgentState, answer: str, ctx: RunContext) -> Verdict:
    return output_guard.check(
        answer,
        user_texts=user_texts(state["messages"]),
        observations=state["observations"],
        response_format=ctx.response_format,
        keep_emails=_acted_on(state),
    )


def _acted_on(state: AgentState) -> set[str]:
    """Addresses in the arguments of calls that ran: the user gave them, a reviewer approved (or wrote)
    them, or tool policy let them through. Saying where an email went is the answer, not a leak."""
    found: set[str] = set()
    for observation in state["observations"]:
        if observation["status"] == "done":
            found.update(m.group() for m in pii.EMAIL.finditer(json.dumps(observation["args"], ensure_ascii=False)))
    return found


def _answered(state: AgentState, update: dict[str, Any], answer: str, used: Usage) -> dict[str, Any]:
    # An id now, not from the reducer: the summary records the last message it covers by id.
    message = AIMessage(content=answer, id=str(uuid.uuid4()))
    return {**update, "final_answer": answer, "messages": [message], **add_usage(state, used)}
