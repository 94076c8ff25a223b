"""Runs eval cases through the real service: `create_app(Settings(...))` under uvicorn on a fresh Postgres
database, driven over HTTP with `langgraph-sdk` as a client would (threads.create, runs.wait per turn, the
reviewer's answers through `POST /approvals/{id}`), then scores each turn (evals/score.py).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from langgraph_sdk import get_client
from langgraph_sdk.schema import Config

from evals.cases import Case, Turn
from evals.score import TurnFacts, score_turn
from handrail.settings import Settings
from handrail.tracing import Tracer, open_tracer, run_trace_id

EVAL_KEY = "eval-key"
EVAL_USER = "eval"
AT_ONCE = 6
TURN_TIMEOUT_S = 120.0


@dataclass
class CaseResult:
    id: str
    category: str
    file: str
    passed: bool
    reasons: list[str]
    outcomes: list[str]
    tools: list[list[str]]
    steps: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    approvals: int = 0
    blocked: bool = False
    """A guardrail refused one of its turns (at the door or inside the run)."""
    trace_ids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def eval_settings(database_url: str, port: int, model: str | None = None, **overrides: Any) -> Settings:
    """The eval server: one API key, the fault-injecting tools, quiet logs; `model` (`provider:name`) for
    every role, with MODEL_BASE_URL / MODEL_API_KEY / LANGFUSE_* read from the environment as usual."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "port": port,
        "api_keys": f"{EVAL_KEY}:{EVAL_USER}",
        "workers": AT_ONCE + 2,
        "tool_modules": ["evals.fault_tools"],
        "log_level": "ERROR",
    }
    if model:
        values |= {"planner_model": model, "executor_model": model, "synth_model": model}
    return Settings(**(values | overrides))


@asynccontextmanager
async def eval_server(settings: Settings) -> AsyncIterator[str]:
    """The real app served in this event loop; yields its base URL."""
    from server import create_app
    from tests.support.http import serving

    async with serving(create_app(settings), port=settings.port) as url:
        yield url


class CaseRunner:
    """Drives cases against one running server."""

    def __init__(self, base_url: str, tracer: Tracer | None = None) -> None:
        self.client = get_client(url=base_url, api_key=EVAL_KEY, timeout=TURN_TIMEOUT_S)
        self.http = httpx.AsyncClient(base_url=base_url, headers={"x-api-key": EVAL_KEY}, timeout=TURN_TIMEOUT_S)
        self.tracer = tracer

    async def aclose(self) -> None:
        await self.http.aclose()

    async def run_all(self, cases: Sequence[Case], at_once: int = AT_ONCE) -> list[CaseResult]:
        gate = asyncio.Semaphore(at_once)

        async def one(case: Case) -> CaseResult:
            async with gate:
                return await self.run_case(case)

        return list(await asyncio.gather(*(one(c) for c in cases)))

    async def run_case(self, case: Case) -> CaseResult:
        tags = ["eval", f"case:{case.id}"]
        metadata = {"eval_case_id": case.id, "eval_category": case.category}
        thread = await self.client.threads.create(metadata=metadata)
        tid = thread["thread_id"]
        started = time.perf_counter()
        facts_per_turn: list[TurnFacts] = []
        reasons: list[str] = []
        for number, turn in enumerate(case.turns, start=1):
            try:
                facts = await asyncio.wait_for(self._run_turn(tid, turn, case, tags, metadata), timeout=TURN_TIMEOUT_S)
            except (TimeoutError, httpx.HTTPError) as exc:
                facts = TurnFacts(error=f"{type(exc).__name__}: {exc}"[:300])
            facts_per_turn.append(facts)
            prefix = f"turn {number}: " if len(case.turns) > 1 else ""
            reasons += [prefix + r for r in score_turn(turn.expect, facts)]
            if facts.error:
                break
        latency_ms = (time.perf_counter() - started) * 1000
        result = CaseResult(
            id=case.id,
            category=case.category,
            file=case.file,
            passed=not reasons,
            reasons=reasons,
            outcomes=[f.outcome for f in facts_per_turn],
            tools=[f.called for f in facts_per_turn],
            steps=sum(len(f.called) for f in facts_per_turn),
            latency_ms=round(latency_ms, 1),
            approvals=sum(f.approvals for f in facts_per_turn),
            blocked=any(f.door_blocked or f.blocked for f in facts_per_turn),
        )
        await self._add_usage(tid, result)
        self._score_traces(result)
        return result

    async def _run_turn(self, tid: str, turn: Turn, case: Case, tags: list[str], metadata: dict[str, str]) -> TurnFacts:
        facts = TurnFacts()
        try:
            output = await self.client.runs.wait(
                tid,
                "agent",
                input=_user_message(turn.user),
                context=case.context,
                metadata=metadata,
                config=Config(tags=tags),
            )
        except httpx.HTTPStatusError as exc:
            body = _json_of(exc.response)
            if exc.response.status_code == 400 and body.get("blocked") is True:
                facts.door_blocked = True
                facts.guardrail = body.get("guardrail")
                facts.answer = str(body.get("detail", ""))
                return facts
            facts.error = f"{exc.response.status_code} {str(body.get('detail', exc.response.text))[:200]}"
            return facts
        reviews = list(turn.reviewer)
        asked: set[str] = set()
        while True:
            pending = await self._pending_approval(tid)
            if pending is None:
                break
            asked.add(pending["approval_id"])
            if not reviews:
                facts.paused = True
                break
            answer = await self.http.post(f"/approvals/{pending['approval_id']}", json=reviews.pop(0).body())
            if answer.status_code == 400:  # an invalid answer (bad edit args): the approval stays open, re-asked
                continue
            if answer.status_code != 200:
                facts.error = f"approval answer refused: {answer.status_code} {answer.text[:200]}"
                return facts
            output = await self.client.runs.join(tid, answer.json()["run"]["run_id"])
        facts.approvals = len(asked)
        if not facts.paused and (handoff := await self._open_handoff(tid)) is not None:
            facts.handoff = handoff
            for step in turn.person:  # the person the turn was handed to answers, as a help desk would
                answer = await self.http.post(f"/handoffs/{handoff['handoff_id']}/{step.action}", json=step.body())
                if answer.status_code != 200:
                    facts.error = f"handoff answer refused: {answer.status_code} {answer.text[:200]}"
                    return facts
                output = await self.client.runs.join(tid, answer.json()["run"]["run_id"])
        elif turn.person:
            facts.error = "the case answers a handoff, but the turn was not handed to a person"
            return facts
        if isinstance(output, dict):
            facts.observations = list(output.get("observations") or [])
            facts.answer = str(output.get("final_answer") or "") if not facts.paused else ""
            facts.blocked = bool(output.get("blocked"))
            facts.guardrail = output.get("guardrail")
            facts.stop_reason = output.get("stop_reason") if not facts.paused else None
        return facts

    async def _pending_approval(self, tid: str) -> dict[str, Any] | None:
        """The approval the thread waits for, when it is paused on one."""
        thread = await self.client.threads.get(tid)
        if thread["status"] != "interrupted":
            return None
        found = (await self.http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
        return found[0] if found else None

    async def _open_handoff(self, tid: str) -> dict[str, Any] | None:
        """The handoff the thread waits in, when it was handed to a person."""
        thread = await self.client.threads.get(tid)
        if thread["status"] != "interrupted":
            return None
        found = (await self.http.get("/handoffs", params={"status": "open", "thread_id": tid})).json()
        return found[0] if found else None

    async def _add_usage(self, tid: str, result: CaseResult) -> None:
        runs = await self.client.runs.list(tid, limit=100)
        for found in runs:
            run: dict[str, Any] = dict(found)
            summary: dict[str, Any] = run.get("summary") or {}
            result.tokens += int(summary.get("tokens_in") or 0) + int(summary.get("tokens_out") or 0)
            result.cost_usd += float(summary.get("cost_usd") or 0.0)
            if trace_id := run_trace_id(run):
                result.trace_ids.append(trace_id)
        result.cost_usd = round(result.cost_usd, 6)
        result.trace_ids = sorted(set(result.trace_ids))

    def _score_traces(self, result: CaseResult) -> None:
        """Where Langfuse is configured, each trace of the case gets an `eval_passed` score (1/0) with the reasons."""
        if self.tracer is None:
            return
        comment = f"{result.id}: " + ("; ".join(result.reasons) or "passed")
        for trace_id in result.trace_ids:
            self.tracer.score(trace_id, "eval_passed", 1 if result.passed else 0, comment=comment[:1000])


def _user_message(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def _json_of(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def run_cases(
    cases: Sequence[Case], *, model: str | None = None, database_url: str | None = None
) -> list[CaseResult]:
    """Start the eval server on a fresh database (or `database_url`), run `cases`, stop it."""
    from tests.support.db import fresh_database
    from tests.support.http import free_port

    async def on(dsn: str) -> list[CaseResult]:
        settings = eval_settings(dsn, free_port(), model)
        tracer = open_tracer(settings)
        try:
            async with eval_server(settings) as url:
                runner = CaseRunner(url, tracer)
                try:
                    return await runner.run_all(cases)
                finally:
                    await runner.aclose()
        finally:
            if tracer is not None:
                await tracer.flush()
                await tracer.close()

    if database_url:
        return await on(database_url)
    with fresh_database("handrail_eval") as dsn:
        return await on(dsn)
