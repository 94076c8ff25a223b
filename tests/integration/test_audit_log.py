"""The audit log and the tool switches on the real Postgres: events are stored redacted and read back by every
filter and page; rows can be neither changed nor removed; they outlive their thread; an approval and its
audit row are written together; and every process's switch cache reads the table once per interval."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from guardrails.audit_event import APPROVAL_DECIDED, APPROVAL_REQUESTED, KILL_SWITCH, TOOL_CALL, AuditEvent
from handrail import approvals, audit
from handrail.audit import AuditFilter, PostgresAudit
from handrail.db import make_pool
from handrail.errors import Conflict, Unprocessable
from handrail.logs import redact
from handrail.prune import prune_thread
from handrail.saver import HandrailSaver
from handrail.services import delete_thread
from handrail.tool_switches import ToolSwitches, set_switch
from tools.gate import call_digest


async def new_thread(pool: Any, user_id: str = "alice") -> str:
    tid = str(uuid.uuid4())
    async with pool.connection() as conn:
        await conn.execute(
            "INSERT INTO threads (thread_id, user_id, metadata) VALUES (%s, %s, %s)", (tid, user_id, Jsonb({}))
        )
    return tid


async def requested(pool: Any, tid: str, args: dict[str, Any] | None = None) -> dict[str, Any]:
    payload = {
        "approval_id": f"ap-{uuid.uuid4().hex[:12]}",
        "tool": "send_email",
        "args": args or {"to": "carol@example.com", "subject": "hi", "body": "hello"},
        "preview": "send email",
        "risk": "external",
        "call_id": f"call-{uuid.uuid4().hex[:8]}",
    }
    row = await approvals.record(
        pool,
        thread_id=tid,
        run_id=str(uuid.uuid4()),
        user_id="alice",
        interrupt_id=f"i-{uuid.uuid4().hex[:8]}",
        payload=payload,
        ttl_s=60,
    )
    assert row is not None
    return row


async def trail(pool: Any, **filters: Any) -> list[dict[str, Any]]:
    rows, _ = await audit.search(pool, AuditFilter(**filters))
    return rows


async def test_an_event_is_stored_with_its_arguments_redacted_and_its_digest_intact(pool):
    tid, rid = str(uuid.uuid4()), str(uuid.uuid4())
    args = {"to": "carol@example.com", "api_key": "sk-live-123", "body": "call me"}
    event = AuditEvent(
        kind=TOOL_CALL,
        actor="alice",
        thread_id=tid,
        run_id=rid,
        tool="send_email",
        args=args,
        digest=call_digest("send_email", args),
        outcome="ok",
        detail={"note": "wrote to dave@example.com"},
    )
    await PostgresAudit(pool).record(event)

    (row,) = await trail(pool, thread_id=uuid.UUID(tid))
    assert row["args"] == redact(args) and row["detail"] == redact({"note": "wrote to dave@example.com"})
    stored = json.dumps([row["args"], row["detail"]])
    assert not [secret for secret in ("carol@example.com", "sk-live-123", "dave@example.com") if secret in stored]
    assert row["args"]["body"] == "call me"
    assert row["digest"] == call_digest("send_email", args), "the digest is of the call, not of what is stored"
    assert (str(row["run_id"]), row["kind"], row["actor"], row["outcome"]) == (rid, TOOL_CALL, "alice", "ok")
    assert row["at"] is not None and row["id"] > 0


async def test_a_thread_id_that_is_not_the_services_is_kept_in_the_detail(pool):
    await audit.record(pool, AuditEvent(kind=TOOL_CALL, actor="who-local", thread_id="t-1", tool="calculator"))

    (row,) = await trail(pool, actor="who-local")
    assert row["thread_id"] is None and row["detail"] == {"thread_id": "t-1"}


async def test_every_filter_narrows_the_trail(pool):
    tid, other, rid = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    actor = f"filters-{uuid.uuid4().hex[:6]}"
    before = datetime.now(UTC) - timedelta(seconds=1)
    for kind, thread, run, tool in (
        (TOOL_CALL, tid, rid, "calculator"),
        (TOOL_CALL, tid, None, "send_email"),
        (KILL_SWITCH, None, None, "send_email"),
        (TOOL_CALL, other, None, "calculator"),
    ):
        await audit.record(pool, AuditEvent(kind=kind, actor=actor, thread_id=thread, run_id=run, tool=tool))
    await audit.record(pool, AuditEvent(kind=TOOL_CALL, actor="someone-else", thread_id=tid, tool="calculator"))

    assert len(await trail(pool, actor=actor)) == 4
    assert [r["tool"] for r in await trail(pool, thread_id=uuid.UUID(tid), actor=actor)] == [
        "calculator",
        "send_email",
    ]
    assert len(await trail(pool, thread_id=uuid.UUID(tid))) == 3
    assert [str(r["run_id"]) for r in await trail(pool, run_id=uuid.UUID(rid))] == [rid]
    assert [r["kind"] for r in await trail(pool, actor=actor, kind=KILL_SWITCH)] == [KILL_SWITCH]
    assert len(await trail(pool, actor=actor, tool="calculator")) == 2
    assert len(await trail(pool, actor=actor, since=before)) == 4
    assert await trail(pool, actor=actor, since=datetime.now(UTC) + timedelta(minutes=1)) == []


async def test_pages_are_oldest_first_and_the_cursor_reaches_every_row_once(pool):
    actor = f"pages-{uuid.uuid4().hex[:6]}"
    for n in range(7):
        await audit.record(pool, AuditEvent(kind=TOOL_CALL, actor=actor, detail={"n": n}))

    seen, after, pages = [], None, 0
    while True:
        rows, after = await audit.search(pool, AuditFilter(actor=actor, limit=3, after=after))
        seen += [r["detail"]["n"] for r in rows]
        pages += 1
        if after is None:
            break
    assert seen == list(range(7)) and pages == 3

    await audit.record(pool, AuditEvent(kind=TOOL_CALL, actor=actor, detail={"n": 7}))
    last = (await trail(pool, actor=actor))[6]["id"]
    tail, cursor = await audit.search(pool, AuditFilter(actor=actor, after=last))
    assert [r["detail"]["n"] for r in tail] == [7] and cursor is None, "the cursor doubles as a tail"


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ({"thread_id": "not-a-uuid"}, "thread_id must be a UUID"),
        ({"run_id": "42"}, "run_id must be a UUID"),
        ({"since": "yesterday"}, "since must be an ISO 8601 timestamp"),
    ],
)
def test_a_malformed_filter_is_refused_with_what_was_expected(given, says):
    with pytest.raises(Unprocessable, match=says):
        AuditFilter.parse(**given)


def test_a_since_without_an_offset_is_utc():
    assert AuditFilter.parse(since="2025-01-31T12:00:00").since == datetime(2025, 1, 31, 12, tzinfo=UTC)
    assert AuditFilter.parse(since="2025-01-31T12:00:00Z").since == datetime(2025, 1, 31, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET outcome = 'forged' WHERE actor = 'append-only'",
        "DELETE FROM audit_log WHERE actor = 'append-only'",
        "TRUNCATE audit_log",
    ],
)
async def test_audit_rows_can_be_neither_changed_nor_removed(pool, statement):
    await audit.record(pool, AuditEvent(kind=TOOL_CALL, actor="append-only", outcome="ok"))
    async with pool.connection() as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="audit_log is append-only"):
            await conn.execute(statement)

    assert {r["outcome"] for r in await trail(pool, actor="append-only")} == {"ok"}


async def test_deleting_or_pruning_a_thread_leaves_its_audit_trail(pool):
    tid = await new_thread(pool)
    await requested(pool, tid)
    services = SimpleNamespace(pool=pool, saver=HandrailSaver(pool))  # what delete_thread uses: the real ones

    await prune_thread(pool, tid, keep=1)
    await delete_thread(services, tid)  # type: ignore[arg-type]

    async with pool.connection() as conn:
        gone = await (await conn.execute("SELECT 1 FROM threads WHERE thread_id = %s", (tid,))).fetchone()
    assert gone is None
    assert [r["kind"] for r in await trail(pool, thread_id=uuid.UUID(tid))] == [APPROVAL_REQUESTED]


async def test_an_approval_and_its_decision_each_leave_one_audit_row_with_the_call_digest(pool):
    tid = await new_thread(pool)
    row = await requested(pool, tid)
    review = {"decision": "edit", "args": {**row["args"], "subject": "hello"}, "feedback": "friendlier"}
    async with pool.connection() as conn:
        await approvals.decide(conn, row, review, decided_by="alice")
        with pytest.raises(Conflict):
            await approvals.decide(conn, row, {"decision": "reject", "args": row["args"]}, decided_by="mallory")

    request, decision = await trail(pool, thread_id=uuid.UUID(tid))
    assert (request["kind"], request["actor"], request["outcome"]) == (APPROVAL_REQUESTED, "alice", "pending")
    assert request["digest"] == call_digest("send_email", row["args"])
    assert request["args"] == redact(row["args"]) and request["args"]["to"] != "carol@example.com"
    assert request["detail"]["approval_id"] == row["approval_id"]
    assert (decision["kind"], decision["actor"], decision["outcome"]) == (APPROVAL_DECIDED, "alice", "edited")
    async with pool.connection() as conn:
        stored = await (
            await conn.execute("SELECT decided_digest FROM approvals WHERE approval_id = %s", (row["approval_id"],))
        ).fetchone()
    assert decision["digest"] == stored["decided_digest"] == call_digest("send_email", review["args"])
    assert decision["detail"]["feedback"] == "friendlier"


async def test_an_expiry_is_recorded_as_handrails_own_decision(pool):
    tid = await new_thread(pool)
    row = await requested(pool, tid)
    async with pool.connection() as conn:
        await approvals.decide(
            conn,
            row,
            {"decision": "reject", "args": row["args"]},
            decided_by="handrail:expiry",
            reason="approval expired",
            expired=True,
        )

    (decision,) = await trail(pool, thread_id=uuid.UUID(tid), kind=APPROVAL_DECIDED)
    assert (decision["actor"], decision["outcome"]) == ("handrail", "expired")
    assert decision["detail"]["decided_by"] == "handrail:expiry"
    assert decision["detail"]["reason"] == "approval expired"


async def test_a_decision_whose_audit_row_cannot_be_written_is_not_recorded(pool, database_url):
    tid = await new_thread(pool)
    row = await requested(pool, tid)
    # A connection of its own, without prepared statements, on which a temporary audit_log that refuses
    # decisions shadows the real one: the audit write fails, as if the table were unreachable.
    async with await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, prepare_threshold=None, row_factory=dict_row
    ) as conn:
        await conn.execute("CREATE TEMP TABLE audit_log (LIKE public.audit_log INCLUDING DEFAULTS)")
        await conn.execute("ALTER TABLE audit_log ADD CONSTRAINT refuse CHECK (kind <> 'approval_decided')")
        with pytest.raises(psycopg.errors.CheckViolation):
            await approvals.decide(conn, row, {"decision": "approve", "args": row["args"]}, decided_by="alice")

    async with pool.connection() as conn:
        again = await approvals.find(conn, row["approval_id"])
    assert again is not None and again["status"] == "pending", "no decision without its audit row"


async def test_a_replayed_approval_request_writes_no_second_row(pool):
    tid = await new_thread(pool)
    row = await requested(pool, tid)
    payload = {k: row[k] for k in ("approval_id", "tool", "args", "preview", "risk", "call_id")}
    again = await approvals.record(
        pool,
        thread_id=tid,
        run_id=str(row["run_id"]),
        user_id="alice",
        interrupt_id=row["interrupt_id"],
        payload=payload,
        ttl_s=60,
    )

    assert again is None
    assert len(await trail(pool, thread_id=uuid.UUID(tid))) == 1


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_a_switch_is_read_once_per_interval_however_many_calls_ask(pool, database_url):
    tool = f"tool_{uuid.uuid4().hex[:6]}"
    own = make_pool(database_url, min_size=1, max_size=4)
    await own.open(wait=True)
    try:
        clock = Clock()
        refused: list[str] = []
        switches = ToolSwitches(own, refresh_s=2.0, clock=clock, on_refusal=refused.append)
        await switches.refresh()
        await set_switch(pool, tool, enabled=False, reason="incident 7", changed_by="admin")

        reads = own.get_stats()["requests_num"]
        assert await switches.disabled(tool) is None, "within the interval, the copy read before the switch"
        clock.now = 2.0
        answers = await asyncio.gather(*(switches.disabled(tool) for _ in range(50)))

        assert own.get_stats()["requests_num"] - reads == 1, "one SELECT shared by fifty callers"
        assert set(answers) == {f"{tool} is switched off by an operator (reason: incident 7); it was not run"}
        assert refused == [tool] * 50
    finally:
        await own.close()


async def test_an_unreachable_database_keeps_the_last_known_switches(pool, database_url):
    tool = f"tool_{uuid.uuid4().hex[:6]}"
    await set_switch(pool, tool, enabled=False, reason=None, changed_by="admin")
    own = make_pool(database_url, min_size=1, max_size=1)
    await own.open(wait=True)
    clock = Clock()
    switches = ToolSwitches(own, refresh_s=1.0, clock=clock)
    await switches.refresh()
    await own.close()  # every read from now on fails
    clock.now = 5.0

    assert await switches.disabled(tool) == f"{tool} is switched off by an operator (reason: no reason given); " + (
        "it was not run"
    )
    assert await switches.disabled("calculator") is None


async def test_switches_never_read_keep_every_tool_off(database_url):
    closed = make_pool(database_url, min_size=1, max_size=1)  # never opened: every read fails
    switches = ToolSwitches(closed, refresh_s=1.0)

    assert "could not be read" in (await switches.disabled("calculator") or "")
