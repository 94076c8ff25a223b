"""Executes one claimed run: streams the graph, records every event, and leaves the run, the thread
and any approval in a true final state before the run's stream closes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

import psycopg
import psycopg_pool
from langgraph.types import Command, Send

from graph.context import LimitError, RunContext
from handrail import approval_feed, approvals, handoffs, notify, tracing
from handrail.logs import run_id_var, thread_id_var, trace_id_var
from handrail.runs import event_log, repo, summary
from handrail.runs.event_writer import EventWriter
from handrail.runs.events import VALUES, ValuesEncoder
from handrail.runs.modes import MessageEvents, graph_chunks
from handrail.runs.replay import Replay
from handrail.runs.schemas import EVENTS, FINAL_ONLY, STREAM_MODES
from handrail.runs.summary import RunRecorder
from handrail.serialize import to_json
from handrail.services import Services
from handrail.state import checkpoint_of, interrupts_by_task

logger = logging.getLogger("handrail.runs")

# A lost connection or an exhausted pool says nothing about the run: it is retried, not failed.
INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)

# Exception classes whose message is safe to show a client; others become "An internal error occurred".
_SHOWN = {
    "ValueError",
    "TypeError",
    "KeyError",
    "RuntimeError",
    "GraphRecursionError",
    "TimeoutError",
    "InvalidUpdateError",
    "EmptyInputError",
    "InvalidResume",
    "ScriptExhausted",
    "NodeTimeoutError",
}


@dataclasses.dataclass
class Stop:
    """Why the worker cancelled a run's task (the run's fate depends on it), and whether the run has
    seen the cancellation. A single `task.cancel()` can be absorbed inside LangGraph's stream (seen
    in tests: the run then ran to completion), so the worker repeats it until `handled` is set."""

    reason: str | None = None  # "interrupt" | "rollback" (cancelled by a user) | "lease_lost" | "shutdown"
    handled: bool = False


def error_body(exc: BaseException) -> dict[str, str]:
    name = type(exc).__name__
    return {"error": name, "message": str(exc) if name in _SHOWN else "An internal error occurred"}


def run_context(services: Services, run: dict[str, Any]) -> RunContext:
    """Limits from settings, narrowed by the run's `context`; the user always comes from auth.

    The API refuses a context that would widen a limit (422); this is where the limit is enforced, so
    a run queued before that check, or by a path that skipped it, runs at the ceiling instead."""
    ceiling = dataclasses.replace(services.deps.defaults, user_id=run["user_id"])
    try:
        return ceiling.narrowed(run["kwargs"].get("context") or {})
    except LimitError:
        logger.warning("run.context_refused", extra={"context": run["kwargs"].get("context")})
        return ceiling


def run_config(run: dict[str, Any]) -> dict[str, Any]:
    kwargs, tid = run["kwargs"], str(run["thread_id"])
    requested = kwargs.get("config") or {}
    configurable = {
        **(requested.get("configurable") or {}),
        "thread_id": tid,
        "checkpoint_ns": kwargs.get("checkpoint_ns") or "",
    }
    if kwargs.get("checkpoint_id"):
        configurable["checkpoint_id"] = kwargs["checkpoint_id"]
    metadata = {
        **(requested.get("metadata") or {}),
        **run["metadata"],
        "run_id": str(run["run_id"]),
        "thread_id": tid,
        "user_id": run["user_id"],
        "run_attempt": run["attempt"],
    }
    config: dict[str, Any] = {
        "configurable": configurable,
        # The run id reaches nodes as runtime.execution_info.run_id: the approval gate binds a decision to it.
        "run_id": run["run_id"],
        "metadata": metadata,
        "recursion_limit": requested.get("recursion_limit", 50),
    }
    if requested.get("tags"):
        config["tags"] = [t for t in requested["tags"] if isinstance(t, str)]
    return config


def graph_input(run: dict[str, Any]) -> Any:
    """The run's input or command. A run taken over from a dead worker sends it again unchanged:
    LangGraph sees the checkpoint carries this run's id (config metadata `run_id`) and continues from
    it instead of applying the input twice, so no finished step runs again."""
    kwargs = run["kwargs"]
    if kwargs.get("command"):
        cmd = kwargs["command"]
        goto = cmd.get("goto")
        if isinstance(goto, dict):
            goto = Send(goto["node"], goto.get("input"))
        return Command(resume=cmd.get("resume"), update=cmd.get("update"), goto=goto or ())
    return kwargs.get("input")


async def execute(services: Services, run: dict[str, Any], stop: Stop) -> int | None:
    """Run it to its end and record that end. Returns the step the thread's checkpoints have reached
    (None if the run's end was not recorded here)."""
    run_id, tid = run["run_id"], str(run["thread_id"])
    run_id_var.set(str(run_id))
    thread_id_var.set(tid)
    trace_id = tracing.run_trace_id(run) if services.tracer is not None else None
    trace_id_var.set(trace_id)
    kwargs = run["kwargs"]
    status, error = "success", None
    values = ValuesEncoder(services.message_json)
    user, ledger = str(run["user_id"]), services.spend
    on_cost = (lambda usd: ledger.add(user, usd)) if ledger is not None else None
    recorder = RunRecorder(services.metrics, services.deps.prices, on_cost=on_cost)
    summary.current.set(recorder)  # the run's node tasks inherit it: tool calls are attributed to this run
    topic = repo.events_topic(run_id)
    # A later attempt continues the log of the earlier ones, without writing again what they wrote.
    replay = await Replay.load(services.pool, run_id) if run["attempt"] > 1 else None
    writer = EventWriter(
        services.pool,
        run_id,
        notify=services.bus.sql_notify(topic),
        publish=lambda: services.bus.publish(topic),
        start_seq=replay.top if replay is not None else 0,
        retry_s=services.settings.run_lease_s / 2,
    )
    try:
        async with asyncio.timeout(services.settings.background_run_timeout_s):
            await _stream(services, run, graph_input(run), values, writer, recorder, trace_id, replay)
    except asyncio.CancelledError:
        stop.handled = True
        if stop.reason in ("lease_lost", "shutdown"):
            raise  # not ours to finish: another worker continues from the last checkpoint
        status = "interrupted"
    except INFRASTRUCTURE_ERRORS:
        # Not the agent's failure: leave the run `running` and stop heartbeating it. After RUN_LEASE_S
        # the reaper hands it to a worker that continues from its last checkpoint (at most
        # RUN_MAX_ATTEMPTS times), instead of failing a run whose state is intact.
        stop.handled = True
        logger.warning("run.infrastructure_failed", exc_info=True)
        raise
    except TimeoutError:
        status = "timeout"
        error = {"error": "TimeoutError", "message": f"run exceeded {services.settings.background_run_timeout_s:g} s"}
    except Exception as exc:
        logger.exception("run.failed")
        status, error = "error", error_body(exc)
    finally:
        # Everything the graph emitted is recorded before the run's end is (the end marker comes last).
        lost = await _close(writer)
    if lost is not None:
        if isinstance(lost, INFRASTRUCTURE_ERRORS):
            stop.handled = True
            raise lost  # as above: the run is retried from its last checkpoint, its events with it
        logger.error("run.events_lost", exc_info=lost)
        status, error = "error", error_body(lost)
    if error is not None:
        await repo.append_event(services.pool, run_id, "error", error)
    # From here the run is finishing: a heartbeat that no longer finds it `running` (finish just
    # flipped it) must not cancel the bookkeeping that wakes its readers.
    stop.handled = True
    step = await finalize(
        services, run, status, error, last_values_seq=writer.last_values_seq, values=values, recorder=recorder
    )
    if step is not None and trace_id is not None and services.tracer is not None:
        # A turn paused for approval goes on in the run that resumes it: it is scored when it ends.
        if not recorder.paused:
            services.tracer.score(trace_id, "task_completed", 1 if status == "success" else 0, comment=status)
    if step is not None:
        services.metrics.run_ended(status, time.monotonic() - recorder.started, recorder.supersteps, recorder.cost_usd)
    if stop.reason == "rollback":
        await rollback(services, run)
        step = None
    logger.info("run.finished", extra={"status": status, "attempt": run["attempt"], "graph_kwargs": list(kwargs)})
    return step


async def _stream(
    services: Services,
    run: dict[str, Any],
    payload: Any,
    values: ValuesEncoder,
    writer: EventWriter,
    recorder: RunRecorder,
    trace_id: str | None,
    replay: Replay | None = None,
) -> None:
    kwargs = run["kwargs"]
    # A run started by /wait has one reader, of its final state (its stream is not resumable): the
    # events nobody will read are not written. Its last `values` is, so that the output points at it
    # as for any run.
    final_only = kwargs.get("record") == FINAL_ONLY
    asked = set() if final_only else set(kwargs["stream_mode"])
    requested = {STREAM_MODES[m] for m in asked} - {EVENTS}
    # `values` always: one per super-step is how the run's steps are counted (metrics).
    modes = sorted(requested | {VALUES})
    messages = MessageEvents() if "messages" in asked else None
    last: Any = None
    config = run_config(run)
    config["callbacks"] = [recorder]
    if trace_id is not None and services.tracer is not None:
        config["callbacks"].append(services.tracer.handler(trace_id))
        config["metadata"] |= {
            "langfuse_user_id": run["user_id"],
            "langfuse_session_id": str(run["thread_id"]),
            "langfuse_tags": config.get("tags", []),
            "assistant_id": str(run["assistant_id"]),
        }
    chunks = graph_chunks(
        services.graph,
        payload,
        config,
        events=EVENTS in asked,
        context=run_context(services, run),
        stream_mode=modes,
        interrupt_before=kwargs.get("interrupt_before"),
        interrupt_after=kwargs.get("interrupt_after"),
        durability=kwargs.get("durability") or services.settings.default_durability,
    )
    try:
        async for ns, mode, chunk in chunks:
            if mode == EVENTS:
                # Not matched against an earlier attempt's log: a new attempt's events are its own
                # (new callback run ids), and they would end the matching of the modes that repeat.
                writer.add(EVENTS, to_json(chunk))
                continue
            if ns and not kwargs.get("subgraphs"):
                continue
            if not ns and mode == VALUES:
                recorder.supersteps += 1
            if final_only:
                last = chunk if mode == VALUES and not ns else last
            elif mode == VALUES and mode not in requested:
                continue
            elif mode == VALUES and not ns:
                data, is_delta = values.encode(chunk)
                if replay is not None and (seq := replay.recorded(VALUES, values.state)) is not None:
                    writer.last_values_seq = seq  # the same state, in the log already: deltas go against it
                    continue
                writer.add(VALUES, data, delta=is_delta)
            else:
                for name, data in _events_of(mode, chunk, asked, messages):
                    event = "|".join([name, *ns])
                    if replay is not None and replay.recorded(event, data) is not None:
                        continue
                    writer.add(event, data)
    finally:
        if last is not None:
            data, is_delta = values.encode(last)
            writer.add(VALUES, data, delta=is_delta)


async def _close(writer: EventWriter) -> Exception | None:
    """Wait for the run's events to be written, and say what stopped the writer, if anything did. A run
    cancelled meanwhile still waits: the end marker must come after its events."""
    while True:
        try:
            await writer.close()
            return None
        except asyncio.CancelledError:
            continue  # the worker repeats its cancel until the run has seen it; it has
        except Exception as exc:
            return exc


def _events_of(mode: str, chunk: Any, asked: set[str], messages: MessageEvents | None) -> list[tuple[str, Any]]:
    """The events (name, data) one chunk of LangGraph mode `mode` becomes for what the client asked."""
    if mode == "debug":
        return [("debug", _debug_payload(chunk))]
    if mode != "messages":
        return [(mode, to_json(chunk))]
    out = [("messages", to_json(chunk))] if "messages-tuple" in asked else []
    return out + (messages.feed(chunk) if messages is not None else [])


def _debug_payload(chunk: Any) -> Any:
    """Studio reads `checkpoint` and `parent_checkpoint` on debug checkpoint events."""
    data = to_json(chunk)
    if isinstance(chunk, dict) and chunk.get("type") == "checkpoint":
        payload = chunk.get("payload", {})
        data["payload"]["checkpoint"] = checkpoint_of(payload.get("config"))
        data["payload"]["parent_checkpoint"] = checkpoint_of(payload.get("parent_config"))
    return data


async def finalize(
    services: Services,
    run: dict[str, Any],
    status: str,
    error: dict[str, Any] | None,
    *,
    last_values_seq: int | None,
    values: ValuesEncoder,
    recorder: RunRecorder,
) -> int | None:
    """Approvals first, then the run's terminal status with its thread's state; a stream closes only after.

    `last_values_seq`: the seq of the run's last recorded `values` event, whose state `values` holds."""
    tid = str(run["thread_id"])
    snapshot = await services.graph.aget_state({"configurable": {"thread_id": tid}})
    pending = interrupts_by_task(snapshot)
    paused_at = [i for task in pending.values() for i in task]
    # With another run of the thread queued or running, the statement that finishes this one says `busy`.
    thread_status = "error" if status == "error" else "interrupted" if snapshot.next else "idle"
    recorder.paused = bool(snapshot.next)
    state = values.json_of(snapshot.values)
    recorded = False
    for interrupt_id, payload in approvals.approval_requests(paused_at):
        row = await approvals.record(
            services.pool,
            thread_id=tid,
            run_id=str(run["run_id"]),
            user_id=run["user_id"],
            interrupt_id=interrupt_id,
            payload=payload,
            ttl_s=services.settings.approval_ttl_s,
        )
        if row is not None:
            notify.approval_requested(services, row)
            recorded = True
    if recorded:
        await approval_feed.announce(services)  # the reviewers' consoles (GET /approvals/stream)
    for interrupt_id, payload in handoffs.handoff_requests(paused_at):
        handed = await handoffs.record(
            services.pool,
            thread_id=tid,
            run_id=str(run["run_id"]),
            user_id=run["user_id"],
            interrupt_id=interrupt_id,
            payload=payload,
            conversation=handoffs.conversation_of(state),
        )
        if handed is not None:  # the first pause at it; a reply's run pauses at the same handoff again
            services.metrics.handoff_requested(handed["signal"], handed["priority"])
            notify.handoff_requested(services, handed)
    output = dict(state) if isinstance(state, dict) else {}
    # The run's last `values` event usually is the final state already: then the output points at it.
    output_of = None
    last = values.state
    if last_values_seq is not None and last and {k: v for k, v in last.items() if k != "__interrupt__"} == output:
        output_of = last_values_seq
    if snapshot.interrupts:
        output["__interrupt__"] = [to_json(i) for i in snapshot.interrupts]
    if error is not None:
        output["__error__"] = error
    topics = (repo.events_topic(run["run_id"]), repo.end_topic(run["run_id"]))
    nudge = services.bus.sql_notify(*topics)
    if not await repo.finish(
        services.pool,
        run["run_id"],
        status,
        error,
        worker_id=services.worker_id,
        thread_status=thread_status,
        values=state,
        interrupts=pending,
        output=output,
        output_of=output_of,
        notify=nudge,
        summary=recorder.summary(run, status),
    ):
        logger.warning("run.finish_lost", extra={"status": status})
        return None
    if services.ends.put(run["run_id"], {"status": status, "output": output}):
        services.bus.nudge_local(repo.end_topic(run["run_id"]))
    if nudge is None:
        await services.bus.publish(*topics)
    if run.get("webhook"):
        notify.run_finished(services, run["run_id"])
    step = (snapshot.metadata or {}).get("step")
    return step if isinstance(step, int) else None


async def announce_end(services: Services, run_id: object) -> None:
    """Wake both kinds of readers of a run that is now final: streams, and waits for its output."""
    await services.bus.publish(repo.events_topic(run_id), repo.end_topic(run_id))


async def rollback(services: Services, run: dict[str, Any]) -> None:
    """multitask `rollback`: the run and every checkpoint it wrote disappear."""
    rid = str(run["run_id"])
    async with services.pool.connection() as conn, conn.transaction():
        # Blobs are shared across checkpoints by channel version; orphans are harmless and left alone.
        await conn.execute(
            "DELETE FROM checkpoint_writes w USING checkpoints c WHERE w.thread_id = c.thread_id "
            "AND w.checkpoint_id = c.checkpoint_id AND c.thread_id = %s AND c.metadata->>'run_id' = %s",
            (str(run["thread_id"]), rid),
        )
        await conn.execute(
            "DELETE FROM checkpoints WHERE thread_id = %s AND metadata->>'run_id' = %s", (str(run["thread_id"]), rid)
        )
        await event_log.materialize_dependents(conn, run["run_id"])
        await conn.execute("DELETE FROM runs WHERE run_id = %s", (run["run_id"],))
