"""The OpenAPI contract, fuzzed: schemathesis reads /openapi.json from a real server and sends it boundary values
(coverage), random valid and invalid requests (fuzzing) and linked sequences such as create-then-read (stateful).
No response may be a 5xx, and every response with a documented status must match its documented schema: the
response models (Thread, ThreadState, Run, Assistant, Cron, Approval, …, and the error body), which
tests/unit/test_openapi.py requires of every JSON route. A model that promised a key the server leaves out, or a
type it does not send, fails here (checked: timestamps documented as integers fail the thread and assistant routes).

The server is a dedicated one on its own database (the fuzzer creates threads, assistants, store items and
runs that would show up in other tests' searches), with `workers=0`: runs are queued but never executed, so
random inputs do not keep both cores busy running the agent; creating a run, which is what is under test here,
is the same code either way. The run is deterministic (fixed seed, derandomized Hypothesis, no example
database) and bounded (examples per operation, stateful steps), about a minute on two cores.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import schemathesis
from schemathesis.checks import load_all_checks
from schemathesis.engine import Status, events, from_schema
from schemathesis.engine.run import PhaseName

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.support.db import fresh_database
from tests.support.http import serving

pytestmark = pytest.mark.slow

SEED = 20_240_601
MAX_EXAMPLES = 25  # per operation, in the fuzzing phase
STATEFUL_STEPS = 10
# The only operations left out: they stream or block until a run ends, and with workers=0 no run ever ends
# (a real worker would only bound them by the run's own time). Their request body is RunCreate, checked by the
# same create_run path that POST /threads/{id}/runs and POST /runs exercise here.
#   POST /threads/{thread_id}/runs/stream, POST /runs/stream, GET …/runs/{run_id}/stream  (SSE until the run ends)
#   POST /threads/{thread_id}/runs/wait, POST /runs/wait, GET …/runs/{run_id}/join        (block until it ends)
# Nothing in the API mutates authentication (API keys come from settings), so nothing else is excluded.
STREAMING_OR_BLOCKING = r"/(stream|wait|join)$"


@dataclass
class Findings:
    problems: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    answered_2xx: set[str] = field(default_factory=set)
    tested: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def fuzz_database_url() -> Iterator[str]:
    with fresh_database("handrail_fuzz") as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def fuzz_server(fuzz_database_url: str) -> AsyncIterator[str]:
    settings = e2e_settings(fuzz_database_url, workers=0)
    async with serving(create_app(settings), port=settings.port) as url:
        yield url


def fuzz(base_url: str, *, phases: set[str], mode: str, findings: Findings) -> int:
    """Run schemathesis's engine (blocking: call it in a thread) and collect every failed check and engine error,
    each with a curl command that reproduces it. Returns the number of operations selected."""
    load_all_checks()  # registers the OpenAPI checks (response_schema_conformance) with the engine
    document = httpx.get(f"{base_url}/openapi.json").raise_for_status().json()
    config = schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "base-url": base_url,
            "workers": 1,
            "request-timeout": 10,
            # Hypothesis health checks judge the generator's efficiency, not the API: never skip an operation.
            "suppress-health-check": [],
            "output": {"sanitization": {"enabled": False}},  # test keys: keep the curl commands runnable
            # Pinned headers. x-api-key authenticates; the coverage phase of schemathesis 4.15 also generates
            # non-latin-1 values for the other string headers, which its own HTTP client cannot send.
            "parameters": {
                "header.x-api-key": KEYS["alice"],
                "header.authorization": f"Bearer {KEYS['alice']}",
                "header.prefer": "return=representation",
            },
            # no-shrink: a failing run reports its first failing request per operation at once; shrinking it
            # to a minimal one costs minutes of requests here.
            "generation": {
                "mode": mode,
                "max-examples": MAX_EXAMPLES,
                "deterministic": True,
                "database": "none",
                "no-shrink": True,
            },
            "phases": {
                "examples": {"enabled": "examples" in phases},
                "coverage": {"enabled": "coverage" in phases},
                "fuzzing": {"enabled": "fuzzing" in phases},
                "stateful": {"enabled": "stateful" in phases, "max-steps": STATEFUL_STEPS},
            },
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "response_schema_conformance": {"enabled": True},
            },
            # Operations whose only inputs are path segments (ids) and booleans have no invalid values to
            # generate: Hypothesis would filter examples until its health check fails. Valid values only.
            "operations": [{"include-operation-id": _ids_and_flags_only(document), "generation": {"mode": "positive"}}],
        }
    )
    schema = schemathesis.openapi.from_dict(document, config=config)
    schema = schema.exclude(path_regex=STREAMING_OR_BLOCKING)
    selected = schema.statistic.operations.selected
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            _collect(event, findings)
        elif isinstance(event, events.NonFatalError):
            findings.problems.append(f"{event.label}: schemathesis could not test it: {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
    return selected


def _ids_and_flags_only(document: dict[str, Any]) -> list[str]:
    found = []
    for operations in document["paths"].values():
        for operation in operations.values():
            inputs = [p for p in operation.get("parameters", []) if p["in"] != "header"]
            if "requestBody" not in operation and all(
                p["in"] == "path" or p.get("schema", {}).get("type") == "boolean" for p in inputs
            ):
                found.append(operation["operationId"])
    return found


def _collect(event: events.ScenarioFinished, findings: Findings) -> None:
    recorder = event.recorder
    if event.phase is not PhaseName.STATEFUL_TESTING:
        findings.tested.add(recorder.label)
    for interaction in recorder.interactions.values():
        if interaction.response is not None:
            findings.statuses[interaction.response.status_code] += 1
            if interaction.response.status_code < 300:
                findings.answered_2xx.add(recorder.label)
    for case_id, checks in recorder.checks.items():
        for check in checks:
            if check.status == Status.FAILURE and check.failure_info is not None:
                failure = check.failure_info.failure
                interaction = recorder.interactions.get(case_id)
                answer = interaction.response if interaction is not None else None
                answered = f"{answer.status_code} {answer.content[:300]!r}" if answer is not None else "no response"
                findings.problems.append(
                    f"{recorder.label} [{event.phase.value}]: {check.name}: {failure.title} (answered {answered})\n"
                    f"{failure.message.strip()}\nreproduce with:\n    {check.failure_info.code_sample}"
                )


async def test_no_operation_answers_5xx_or_contradicts_its_documented_schema(fuzz_server: str) -> None:
    findings = Findings()
    # Coverage in positive mode: boundary values inside each schema (limit=1000, offset=10^9, after_seconds=a year,
    # enum members, defaults). Its negative mode spends about a minute of CPU in schemathesis itself here; the
    # fuzzing phase below sends invalid requests (wrong types, out-of-range numbers, odd strings) instead.
    selected = await asyncio.to_thread(fuzz, fuzz_server, phases={"coverage"}, mode="positive", findings=findings)
    await asyncio.to_thread(fuzz, fuzz_server, phases={"fuzzing", "stateful"}, mode="all", findings=findings)

    report = "\n\n".join(dict.fromkeys(findings.problems))  # the same failure may recur across phases
    assert not findings.problems, f"schemathesis found {len(findings.problems)} problem(s):\n\n{report}"
    assert len(findings.tested) == selected, f"untested operations; tested: {sorted(findings.tested)}"
    # Guard against a fuzz run that only ever met 401s or 422s and so proved nothing.
    assert len(findings.answered_2xx) > selected // 2, f"2xx from only {sorted(findings.answered_2xx)}"
    assert 401 not in findings.statuses, findings.statuses
