"""Creating, cancelling, joining and streaming runs: the rules the runs API and approvals share."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from psycopg import AsyncConnection
from psycopg.errors import UniqueViolation
from psycopg.types.json import Jsonb

from graph.context import LimitError
from guardrails.audit_event import SPEND_REFUSED, AuditEvent
from handrail import approval_feed, approvals, assistants, audit, handoffs, prune, threads, tracing
from handrail.auth import Principal
from handrail.errors import (
    Conflict,
    InvalidRequest,
    InvalidResume,
    NotFound,
    SpendBreakerOpen,
    Unprocessable,
    UserBudgetExceeded,
)
from handrail.runs import event_log, repo
from handrail.runs.events import ValuesDecoder
from handrail.runs.executor import announce_end
from handrail.runs.schemas import FINAL_ONLY, RunCreate, event_mode
from handrail.serialize import dumps_json, to_json
from handrail.services import Services, delete_thread
from handrail.spend import admit_run
from handrail.state import refuse_review_bypass
from handrail.webhooks import check_webhook_url
from nodes.review import InvalidReview, parse_review

HandoffStep = Callable[[AsyncConnection[Any], Any], Awaitable[None]]
EXPIRY = "handrail:expiry"  # who decides an approval nobody decided in time

HEARTBEAT_S = 5.0
THREAD_POLL_S = 0.5  # how often a thread's stream looks for its next run
SETTLE_S = 10.0  # how long a thread's delete waits for its cancelled runs to stop before deleting anyway


async def create_run(
    services: Services,
    principal: Principal,
    thread_id: str | None,
    body: RunCreate,
    *,
    approval_id: str | None = None,
    expiry_reason: str | None = None,
    final_only: bool = False,
    handoff_answer: HandoffStep | None = None,
) -> dict[str, Any]:
    """Queue a run (200 at once); the thread is created for stateless runs or `if_not_exists=create`.

    `final_only`: the caller reads only the run's final state (/wait); unless the client asked for a
    resumable stream, the run then records no intermediate events.

    A resume decides one approval (`approval_id`, or the thread's pending one) in the same transaction
    that queues the run, so a decision and the run that carries it out exist together or not at all.
    `handoff_answer` records a person's answer to a handoff in that transaction instead (resume_handoff).
    """
    resuming = approval_id is not None or (body.command is not None and body.command.resume is not None)
    draft = await prepare_run(services, principal, thread_id, body, resuming=resuming, final_only=final_only)
    command = draft["kwargs"]["command"] or {}
    temporary = False
    thread: dict[str, Any] | None = None  # stateless: created in the run's own transaction
    # Enqueueing on an existing thread needs nothing from the thread but its owner: that statement
    # checks it, instead of reading the thread (its whole state) first.
    queue_only = body.multitask_strategy == "enqueue" and "resume" not in command
    if thread_id is not None and handoff_answer is None and (command.get("goto") or command.get("update") is not None):
        await _refuse_while_with_person(services, thread_id)  # a command must not move the agent past a person
    if thread_id is None:
        if "resume" in command:
            raise InvalidRequest("a resume needs a thread: use POST /threads/{thread_id}/runs with the paused thread")
        temporary = body.on_completion != "keep"
        tid = uuid.uuid4()
    elif queue_only and _is_uuid(thread_id):
        tid = uuid.UUID(thread_id)
    else:  # (a malformed id too: the thread's own rules say 404, or 422 when asked to create it)
        thread = await _thread(services, principal, thread_id, body)
        tid = thread["thread_id"]
    user_id = thread["user_id"] if thread is not None else principal.user_id
    fields = on_thread(services, draft, tid, user_id=user_id, temporary=temporary)
    metadata = fields["metadata"]
    marks = thread_marks(fields)
    if thread is None and thread_id is not None:  # the enqueue-only path
        # Nothing to decide about the runs already there: one statement (see repo.enqueue_run).
        run = await _enqueue(services, principal, marks, fields)
        if run is None:  # no such thread of this principal's: say so, or create it if asked
            await _thread(services, principal, thread_id, body)
            run = await _enqueue(services, principal, marks, fields)
        if run is None:
            raise NotFound(f"thread {thread_id} not found")
        return run
    cancelled_running = False
    async with services.pool.connection() as conn, conn.transaction():
        if thread is None:
            thread = await threads.insert_thread(conn, principal.user_id, tid, {})
            assert thread is not None, "a fresh uuid4 cannot collide"
        # Serialises run creation per thread, so multitask rules see a consistent picture.
        await conn.execute("SELECT 1 FROM threads WHERE thread_id = %s FOR UPDATE", (tid,))
        busy = await repo.in_flight(conn, tid)
        if busy:
            cancelled_running = await _apply_multitask(conn, tid, busy, body.multitask_strategy)
        approval = None
        if handoff_answer is not None:
            await handoff_answer(conn, fields["run_id"])
        elif "resume" in command:
            approval = await _accept_resume(
                conn,
                services,
                principal,
                thread,
                command["resume"],
                busy=busy,
                approval_id=approval_id,
                expiry_reason=expiry_reason,
            )
        if approval is not None and services.tracer is not None:
            paused = await _paused_trace(conn, approval["run_id"])
            fields["metadata"] = metadata | paused
            if tracing.TRACE_ID in paused:
                services.tracer.approval(paused[tracing.TRACE_ID], approval)
        run = await repo.insert_run(conn, **(fields | {"user_id": thread["user_id"]}))
        if approval is not None:
            await approvals.link_resume_run(conn, approval["approval_id"], run["run_id"])
        await conn.execute(
            "UPDATE threads SET status = 'busy', metadata = metadata || %s, updated_at = now() WHERE thread_id = %s",
            (Jsonb(marks), tid),
        )
        # On the Postgres bus the workers' nudge is sent by this transaction's commit: no second trip.
        if (nudge := services.bus.sql_notify("runs")) is not None:
            await conn.execute("SELECT pg_notify(%s, %s)", nudge)
    if cancelled_running:
        await services.bus.publish("cancel")
    if nudge is None:
        await services.bus.publish("runs")
    if approval is not None:
        await approval_feed.announce(services)  # decided: the reviewers' consoles drop it from their inboxes
    return run


async def prepare_run(
    services: Services,
    principal: Principal,
    thread_id: str | None,
    body: RunCreate,
    *,
    resuming: bool = False,
    final_only: bool = False,
) -> dict[str, Any]:
    """A new run's fields that do not depend on its thread, checked (budgets, assistant, webhook, review
    bypass, limits) and normalised, with a fresh run_id; it reads but writes nothing except a refusal's
    audit record. `on_thread` completes them once the thread is known. Raises as create_run does."""
    settings = services.settings
    # Budgets refuse new work before anything is read or written. A resume (an approval's decision, an
    # expiry) finishes a paused run instead: whether budgets stop it is decided where resumes are made.
    if services.spend is not None and not resuming:
        try:
            await admit_run(services.spend, settings, principal.user_id)
        except (UserBudgetExceeded, SpendBreakerOpen) as exc:
            refusal = AuditEvent(
                kind=SPEND_REFUSED,
                actor=principal.user_id,
                thread_id=thread_id,
                outcome="refused",
                detail=exc.body_extra or {},
            )
            await audit.record(services.pool, refusal)
            raise
    try:
        assistant = await assistants.resolve(services.pool, principal, body.assistant_id, list(services.graphs))
    except NotFound as exc:
        raise NotFound(f"{exc}. Thread or assistant not found.") from exc
    if body.webhook:
        check_webhook_url(body.webhook, allow_private=settings.webhook_allow_private)
    kwargs = body.normalised(settings.default_durability)
    if final_only and not body.stream_resumable:
        kwargs["record"] = FINAL_ONLY
    command = kwargs["command"] or {}
    refuse_review_bypass(values=command.get("update"), goto=command.get("goto"))
    check_limits(services, {**assistant["context"], **kwargs["context"]})
    metadata = {
        **assistant["metadata"],
        **(body.metadata or {}),
        "graph_id": assistant["graph_id"],
        "assistant_id": str(assistant["assistant_id"]),
    }
    metadata.pop("created_by", None)
    kwargs["config"] = _merge_config(assistant["config"], kwargs["config"])
    kwargs["context"] = {**assistant["context"], **kwargs["context"]}
    return {
        "run_id": uuid.uuid4(),
        "assistant_id": assistant["assistant_id"],
        "metadata": metadata,
        "kwargs": kwargs,
        "multitask_strategy": body.multitask_strategy,
        "webhook": body.webhook,
        "after_seconds": body.after_seconds,
    }


def on_thread(
    services: Services, draft: dict[str, Any], tid: uuid.UUID, *, user_id: str, temporary: bool
) -> dict[str, Any]:
    """`prepare_run`'s fields placed on thread `tid`: what `repo.insert_run` takes."""
    metadata = draft["metadata"]
    if services.tracer is not None:  # a new turn: its own trace (a resume takes the paused run's)
        metadata = metadata | services.tracer.metadata(services.tracer.trace_id(tid, draft["run_id"]))
    return draft | {"thread_id": tid, "user_id": user_id, "temporary": temporary, "metadata": metadata}


def thread_marks(fields: dict[str, Any]) -> dict[str, Any]:
    """What a run writes into its thread's metadata: which graph and assistant the thread runs."""
    return {"graph_id": fields["metadata"]["graph_id"], "assistant_id": fields["metadata"]["assistant_id"]}


async def queue_run_in(
    conn: AsyncConnection[Any], services: Services, fields: dict[str, Any], *, new_thread: bool
) -> tuple[dict[str, Any], bool]:
    """Insert a run (no resume) inside the caller's transaction, with its fresh thread when `new_thread`,
    applying its multitask strategy and marking the thread busy, as create_run does; the workers' nudge
    rides on the commit on the Postgres bus, else the caller sends `announce_run` after committing.
    Returns the run and whether a running run was asked to cancel."""
    tid = fields["thread_id"]
    if new_thread:
        created = await threads.insert_thread(conn, fields["user_id"], tid, {})
        assert created is not None, "a fresh uuid4 cannot collide"
    locked = await (
        await conn.execute("SELECT user_id FROM threads WHERE thread_id = %s FOR UPDATE", (tid,))
    ).fetchone()
    if locked is None:
        raise NotFound(f"thread {tid} not found")
    busy = await repo.in_flight(conn, tid)
    cancelled_running = False
    if busy:
        cancelled_running = await _apply_multitask(conn, tid, busy, fields["multitask_strategy"])
    run = await repo.insert_run(conn, **(fields | {"user_id": locked["user_id"] or fields["user_id"]}))
    await conn.execute(
        "UPDATE threads SET status = 'busy', metadata = metadata || %s, updated_at = now() WHERE thread_id = %s",
        (Jsonb(thread_marks(fields)), tid),
    )
    if (nudge := services.bus.sql_notify("runs")) is not None:
        await conn.execute("SELECT pg_notify(%s, %s)", nudge)
    return run, cancelled_running


async def announce_run(services: Services, *, cancelled_running: bool) -> None:
    """After `queue_run_in`'s transaction commits: the nudges its commit did not carry."""
    if cancelled_running:
        await services.bus.publish("cancel")
    if services.bus.sql_notify("runs") is None:
        await services.bus.publish("runs")


async def _paused_trace(conn: AsyncConnection[Any], paused_run_id: object) -> dict[str, Any]:
    """The trace fields of the run that paused for the approval being answered: the turn goes on in it."""
    row = await (
        await conn.execute(
            "SELECT metadata FROM runs WHERE run_id = %s AND metadata ? %s", (paused_run_id, tracing.TRACE_ID)
        )
    ).fetchone()
    if row is None:
        return {}
    return {k: v for k, v in row["metadata"].items() if k in (tracing.TRACE_ID, tracing.TRACE_URL)}


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


async def _thread(services: Services, principal: Principal, thread_id: str, body: RunCreate) -> dict[str, Any]:
    """The principal's thread, created when missing if the body asks for that; else 404."""
    try:
        return await threads.get_thread(services.pool, principal, thread_id)
    except NotFound:
        if body.if_not_exists != "create":
            raise NotFound(f"thread {thread_id} not found; pass if_not_exists='create' to create it") from None
        return await threads.create_thread(services.pool, principal, thread_id=thread_id, if_exists="do_nothing")


async def _enqueue(
    services: Services, principal: Principal, marks: dict[str, Any], fields: dict[str, Any]
) -> dict[str, Any] | None:
    """Queue the run, or start it in this process's worker when it has a free slot. None when the
    principal has no such thread."""
    nudge = services.bus.sql_notify("runs")
    worker = services.local_worker
    reserved = worker is not None and worker.reserve()
    run: dict[str, Any] | None = None
    try:
        start_by = services.worker_id if reserved else None
        owner = None if principal.is_admin else principal.user_id
        try:
            run = await repo.enqueue_run(
                services.pool, thread_metadata=marks, notify=nudge, owner=owner, start_by=start_by, **fields
            )
        except UniqueViolation:
            # Another run of the thread started the same way in the same instant: this one waits its turn.
            run = await repo.enqueue_run(services.pool, thread_metadata=marks, notify=nudge, owner=owner, **fields)
    finally:
        if reserved:
            worker.adopt(run)
    if run is None:
        return None
    if run["status"] == "pending":
        if nudge is None:
            await services.bus.publish("runs")
        return run
    # Every create answers `pending` (the wire contract); this one was started as it was queued.
    return {**run, "status": "pending"}


def check_limits(services: Services, context: Mapping[str, Any] | None) -> None:
    """422 for a run's or an assistant's context that would raise a limit: the deployment's settings
    are a ceiling that context may only narrow."""
    try:
        services.deps.defaults.narrowed(context or {})
    except LimitError as exc:
        raise Unprocessable(str(exc)) from exc


def _merge_config(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = {**base, **override}
    merged["configurable"] = {**(base.get("configurable") or {}), **(override.get("configurable") or {})}
    return merged


async def _apply_multitask(
    conn: AsyncConnection[Any], tid: uuid.UUID, busy: list[dict[str, Any]], strategy: str
) -> bool:
    if strategy == "reject":
        current = busy[0]
        raise Conflict(
            f"thread {tid} is busy with run {current['run_id']} ({current['status']}); retry with "
            "multitask_strategy=enqueue, or wait for it, or cancel it"
        )
    if strategy == "enqueue":
        return False
    running = False
    for run in busy:
        if run["status"] == "pending":
            await repo.cancel_pending(conn, run["run_id"], strategy)
        else:
            await repo.request_cancel(conn, run["run_id"], strategy)
            running = True
    return running


async def _accept_resume(
    conn: AsyncConnection[Any],
    services: Services,
    principal: Principal,
    thread: dict[str, Any],
    value: Any,
    *,
    busy: list[dict[str, Any]],
    approval_id: str | None,
    expiry_reason: str | None,
) -> dict[str, Any] | None:
    """Decide the approval this resume answers, exactly once; refuse a resume that answers nothing.

    400: nothing is paused, or the value is not a valid review. 409: the approval was already decided,
    or the thread is still running and has no approval waiting yet (a resume queued behind a run
    would answer whatever that run asks next, which nobody has seen).
    """
    if (with_person := await handoffs.open_for_thread(conn, thread["thread_id"])) is not None:
        raise handoffs.with_person(with_person)  # only the person's answers, through /handoffs, resume it
    waiting = await approvals.pending_for_thread(conn, thread["thread_id"])
    target: dict[str, Any] | None = None
    if approval_id is not None:
        target = next((r for r in waiting if r["approval_id"] == approval_id), None)
        if target is None:
            decided = await approvals.find(conn, approval_id)
            raise approvals.already_decided(decided) if decided else NotFound(f"approval {approval_id} not found")
    else:
        if not busy and thread["status"] != "interrupted":
            raise InvalidResume(
                f"thread {thread['thread_id']} is {thread['status']}, not paused at an interrupt; "
                "there is nothing to resume"
            )
        if isinstance(value, dict):  # the `{interrupt_id: value}` form
            target = next((r for r in waiting if r["interrupt_id"] in value), None)
            if target is not None:
                value = value[target["interrupt_id"]]
        if target is None and len(waiting) > 1:
            raise InvalidResume(
                f"thread {thread['thread_id']} has {len(waiting)} approvals waiting; answer one with "
                "{interrupt_id: value} or POST /approvals/{approval_id}"
            )
        target = target or (waiting[0] if waiting else None)
    if target is None:
        await _refuse_resume_without_approval(conn, thread, busy)
        return None
    call = {"tool": target["tool"], "args": target["args"]}
    try:
        review = parse_review(
            value,
            call,  # type: ignore[arg-type]
            services.deps.registry,
            max_feedback_chars=services.settings.max_feedback_chars,
        )
    except InvalidReview as exc:
        raise InvalidResume(f"invalid resume for approval {target['approval_id']}: {exc}") from exc
    decided = await approvals.decide(
        conn,
        target,
        dict(review),
        decided_by=EXPIRY if expiry_reason is not None else principal.user_id,
        reason=expiry_reason,
        expired=expiry_reason is not None,
    )
    services.metrics.approval_decided(
        decided["status"], (decided["decided_at"] - decided["created_at"]).total_seconds()
    )
    return decided


async def _refuse_resume_without_approval(
    conn: AsyncConnection[Any], thread: dict[str, Any], busy: list[dict[str, Any]]
) -> None:
    """A resume with no approval waiting passes for an interrupt that asks nothing sensitive; it is a
    409 when the thread is paused at an approval that was already decided, or is still running."""
    if busy:
        raise Conflict(
            f"thread {thread['thread_id']} is busy with run {busy[0]['run_id']} and no approval is waiting; "
            "wait until the run pauses, then answer the approval it asks for"
        )
    paused_at = [i for task in (thread.get("interrupts") or {}).values() for i in task]
    asked = [payload["approval_id"] for _, payload in approvals.approval_requests(paused_at)]
    if asked:
        decided = await approvals.find(conn, asked[0])
        if decided is not None:
            raise approvals.already_decided(decided)
        raise Conflict(f"approval {asked[0]} is not recorded yet; retry in a moment")


async def resume_approval(
    services: Services, principal: Principal, approval_id: str, value: dict[str, Any], *, expired: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """POST /approvals/{id}: decide that approval and resume its thread, as `command.resume` would."""
    row = await approvals.get(services.pool, principal, approval_id)
    if row["status"] != "pending":
        raise approvals.already_decided(row)
    body = RunCreate(
        assistant_id=str(
            (await threads.get_thread(services.pool, principal, str(row["thread_id"])))["metadata"].get("assistant_id")
            or "agent"
        ),
        command={"resume": value},
        multitask_strategy="enqueue",
    )  # type: ignore[arg-type]
    run = await create_run(
        services,
        principal,
        str(row["thread_id"]),
        body,
        approval_id=approval_id,
        expiry_reason=value.get("feedback") if expired else None,
    )
    return await approvals.get(services.pool, principal, approval_id), run


async def _refuse_while_with_person(services: Services, thread_id: str) -> None:
    if not _is_uuid(thread_id):
        return
    async with services.pool.connection() as conn:
        if (held := await handoffs.open_for_thread(conn, uuid.UUID(thread_id))) is not None:
            raise handoffs.with_person(held)


async def resume_handoff(
    services: Services, principal: Principal, handoff_id: str, action: str, message: str | None
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """POST /handoffs/{id}/reply|resolve|return: record the person's answer and resume the thread with a value
    naming it, in one transaction; the `human` node then shows what was recorded (PostgresHandoffLedger)."""
    row, _ = await handoffs.get(services.pool, principal, handoff_id)
    if row["status"] != "open":
        raise handoffs.closed_already(row)
    reply_id = "hrp_" + uuid.uuid4().hex[:24]
    thread = await threads.get_thread(services.pool, principal, str(row["thread_id"]))
    body = RunCreate(
        assistant_id=str(thread["metadata"].get("assistant_id") or "agent"),
        command={"resume": {"action": action, "handoff_id": handoff_id, "reply_id": reply_id}},
        multitask_strategy="enqueue",
    )  # type: ignore[arg-type]
    before: dict[str, Any] = {}

    async def record(conn: AsyncConnection[Any], run_id: Any) -> None:
        before.update(
            await handoffs.answer(
                conn, handoff_id, action, by=principal.user_id, message=message, reply_id=reply_id, run_id=run_id
            )
        )

    run = await create_run(services, principal, str(row["thread_id"]), body, handoff_answer=record)
    row, replies = await handoffs.get(services.pool, principal, handoff_id)
    if before.get("first_reply") and row["first_reply_at"] is not None:
        waited = (row["first_reply_at"] - row["created_at"]).total_seconds()
        services.metrics.handoff_replied(row["priority"], waited)
    return row, replies, run


async def cancel_run(
    services: Services, principal: Principal, thread_id: str, run_id: str, action: str, *, final_ok: bool = False
) -> dict[str, Any]:
    """Cancel a pending or running run; 404 for one that is already final, unless `final_ok` (a cancel
    with wait=1 that lost the race against the run's end answers with the run's result instead)."""
    run = await repo.get_run(services.pool, principal, thread_id, run_id)
    if run["status"] not in repo.IN_FLIGHT:
        if final_ok:
            return run
        raise NotFound(f"run {run_id} is {run['status']}; only pending or running runs can be cancelled")
    await _cancel(services, run, action)
    return run


async def delete_run(services: Services, principal: Principal, thread_id: str, run_id: str) -> None:
    """A finished run and its events (409 while it is pending or running: cancel it first)."""
    run = await repo.get_run(services.pool, principal, thread_id, run_id)
    if run["status"] in repo.IN_FLIGHT:
        raise Conflict(f"run {run_id} is {run['status']}; cancel it before deleting it")
    async with services.pool.connection() as conn, conn.transaction():
        await event_log.materialize_dependents(conn, run["run_id"])
        await repo.delete_run(conn, run["run_id"])


async def prune_threads(services: Services, principal: Principal, thread_ids: list[str], strategy: str) -> int:
    """LangGraph's prune: `delete` the threads, or `keep_latest` (all but the latest checkpoint, fork
    points and branch tips, as the background pruner does with CHECKPOINTS_KEEP). Threads that are not
    the caller's, or that have a run in flight, are skipped and not counted: a prune never races a run."""
    pruned = 0
    for thread_id in dict.fromkeys(thread_ids):
        try:
            row = await threads.get_thread(services.pool, principal, thread_id)
        except NotFound:
            continue
        async with services.pool.connection() as conn:
            if await repo.in_flight(conn, row["thread_id"]):
                continue
        if strategy == "delete":
            await delete_thread(services, thread_id)
        else:
            await prune.prune_thread(services.pool, thread_id, keep=1)
        pruned += 1
    return pruned


async def cancel_runs(services: Services, principal: Principal, status: str, action: str) -> int:
    """POST /runs/cancel by status (`pending`, `running` or `all`): the caller's runs in that state
    (every user's for an admin). 404 when none matched."""
    statuses = repo.IN_FLIGHT if status == "all" else (status,)
    owner = None if principal.is_admin else principal.user_id
    runs = await repo.in_flight_of(services.pool, owner, statuses)
    if not runs:
        raise NotFound(f"no {status} runs to cancel" if status != "all" else "no pending or running runs to cancel")
    for run in runs:
        await _cancel(services, run, action)
    return len(runs)


async def delete_thread_and_runs(services: Services, principal: Principal, thread_id: str) -> None:
    """DELETE /threads/{id}: its pending and running runs are cancelled and allowed to settle first (as
    `langgraph dev` does), so no run goes on executing, or writing, against a deleted thread."""
    row = await threads.get_thread(services.pool, principal, thread_id)
    async with services.pool.connection() as conn:
        busy = await repo.in_flight(conn, row["thread_id"])
    for run in busy:
        await _cancel(services, {**run, "thread_id": row["thread_id"]}, "interrupt", refresh=False)
    for run in busy:
        await _settled(services, run["run_id"], SETTLE_S)
    await delete_thread(services, str(row["thread_id"]))


async def _settled(services: Services, run_id: uuid.UUID, within_s: float) -> bool:
    """Until the run has its end marker (its worker let go of it), or `within_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with services.bus.subscribe(repo.end_topic(run_id)) as sub:
        while await event_log.end_event(services.pool, run_id) is None:
            left = deadline - loop.time()
            if left <= 0:
                return False
            await sub.wait(min(0.5, left))
    return True


async def _cancel(services: Services, run: dict[str, Any], action: str, *, refresh: bool = True) -> None:
    async with services.pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM runs WHERE run_id = %s FOR UPDATE", (run["run_id"],))
        await repo.cancel_pending(conn, run["run_id"], action)
        await repo.request_cancel(conn, run["run_id"], action)
    await services.bus.publish("cancel")
    await announce_end(services, run["run_id"])  # final at once if it was pending; else a harmless wake-up
    if refresh:
        await refresh_thread_status(services, str(run["thread_id"]))


async def refresh_thread_status(services: Services, thread_id: str) -> None:
    """Thread status after a change made outside a worker (a cancelled pending run)."""
    async with services.pool.connection() as conn:
        busy = await repo.in_flight(conn, uuid.UUID(thread_id))
    if busy:
        return
    snapshot = await services.graph.aget_state({"configurable": {"thread_id": thread_id}})
    await threads.set_status(services.pool, thread_id, "interrupted" if snapshot.next else "idle")


async def wait_body(services: Services, run_id: uuid.UUID) -> AsyncIterator[bytes]:
    """/wait and /join: newlines while waiting (keeps proxies from timing out), then one JSON document.

    Woken once, when the run is final; between wake-ups it only checks, every HEARTBEAT_S, that the
    run still exists (a deleted thread takes it away without an end). A run that ends in this process
    hands its output over directly (local_ends); otherwise the output is read from the end marker.

    After WAIT_TIMEOUT_S the answer is the thread's current values with `"__run__": {run_id, status,
    wait_timeout_s}` (as `__error__` and `__interrupt__` ride on the values), and the run goes on: the
    client joins it again (Content-Location names it) or reads the thread later."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + services.settings.wait_timeout_s
    with services.ends.expecting(run_id) as local:
        async with services.bus.subscribe(repo.end_topic(run_id)) as sub:
            while (end := local.end or await event_log.end_event(services.pool, run_id)) is None:
                left = deadline - loop.time()
                if left <= 0:
                    progress = await _progress(services, run_id)
                    end = local.end or await event_log.end_event(services.pool, run_id)
                    if end is None and progress is not None:
                        yield _json_bytes(progress)
                        return
                    break
                if await sub.wait(min(HEARTBEAT_S, left)):
                    continue
                if await repo.load_run(services.pool, run_id) is None:
                    break
                yield b"\n"
    yield _json_bytes((end or {}).get("output"))


async def _progress(services: Services, run_id: uuid.UUID) -> dict[str, Any] | None:
    """What a wait that timed out answers: the thread's values now, and that the run is still going."""
    run = await repo.load_run(services.pool, run_id)
    if run is None:
        return None
    snapshot = await services.graph.aget_state({"configurable": {"thread_id": str(run["thread_id"])}})
    values = to_json(snapshot.values, services.message_json)
    marker = {"run_id": str(run_id), "status": run["status"], "wait_timeout_s": services.settings.wait_timeout_s}
    return {**(values if isinstance(values, dict) else {}), "__run__": marker}


def sse_frame(event: str, data: Any, event_id: int | None = None) -> bytes:
    frame = b"event: " + event.encode() + b"\r\ndata: " + _json_bytes(data) + b"\r\n"
    if event_id is not None:
        frame += f"id: {event_id}\r\n".encode()
    return frame + b"\r\n"


def _json_bytes(data: Any) -> bytes:
    """Compact JSON on one line (what an SSE `data:` needs), by orjson where it can."""
    text = dumps_json(data)
    return text if isinstance(text, bytes) else text.encode()


async def event_stream(
    services: Services,
    run: dict[str, Any],
    *,
    modes: list[str] | None,
    after: int,
    cancel_on_disconnect: bool,
    principal: Principal,
) -> AsyncIterator[bytes]:
    """The run's events from `after` on, as SSE; ends right after the run is final."""
    run_id = run["run_id"]
    wanted = set(modes) if modes else None
    finished = False
    try:
        yield sse_frame("metadata", {"run_id": str(run_id), "attempt": max(1, run["attempt"])})
        async with services.bus.subscribe(repo.events_topic(run_id)) as sub:
            cursor = after
            values = ValuesDecoder()
            while True:
                rows = await event_log.events_after(services.pool, run_id, cursor, values)
                for row in rows:
                    cursor = row["seq"]
                    if row["event"] == repo.END_EVENT:
                        finished = True
                        return
                    if wanted is None or event_mode(row["event"]) in wanted or row["event"] == "error":
                        yield sse_frame(row["event"], row["data"], row["seq"])
                if rows:
                    continue
                if not await sub.wait(HEARTBEAT_S):
                    if await repo.load_run(services.pool, run_id) is None:
                        finished = True
                        return
                    yield b": heartbeat\r\n\r\n"
    finally:
        if not finished and cancel_on_disconnect:
            services.spawn(_cancel_quietly(services, principal, run), name=f"cancel-on-disconnect-{run_id}")


async def thread_stream(services: Services, principal: Principal, thread_id: uuid.UUID) -> AsyncIterator[bytes]:
    """GET /threads/{id}/stream: the events of each run on the thread, from the one in flight now on,
    each followed by `metadata {"status": "run_done", "run_id"}`; ends when the thread is deleted."""
    loop = asyncio.get_running_loop()
    since = await repo.db_now(services.pool)
    done: set[uuid.UUID] = set()
    quiet_since = loop.time()
    async with services.bus.subscribe("runs") as nudges:
        while True:
            followed = await repo.runs_to_follow(services.pool, thread_id, since)
            if followed is None:
                return  # the thread is gone
            run = next((r for r in followed if r["run_id"] not in done), None)
            if run is None:
                await nudges.wait(THREAD_POLL_S)  # a run started by its creator's worker sends no nudge
                if loop.time() - quiet_since >= HEARTBEAT_S:
                    quiet_since = loop.time()
                    yield b": heartbeat\r\n\r\n"
                continue
            done.add(run["run_id"])
            async for frame in event_stream(
                services, run, modes=None, after=0, cancel_on_disconnect=False, principal=principal
            ):
                yield frame
            yield sse_frame("metadata", {"status": "run_done", "run_id": str(run["run_id"])})
            quiet_since = loop.time()


async def _cancel_quietly(services: Services, principal: Principal, run: dict[str, Any]) -> None:
    try:
        await cancel_run(services, principal, str(run["thread_id"]), str(run["run_id"]), "interrupt")
    except NotFound:
        pass  # it finished meanwhile
