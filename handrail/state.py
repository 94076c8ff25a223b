"""Thread state over HTTP: snapshots as the SDK's ThreadState, updates, history and fork points."""

from __future__ import annotations

from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.types import StateSnapshot
from pydantic import BaseModel, Field

from handrail.errors import Conflict, InvalidRequest
from handrail.serialize import to_json
from handrail.wire import Interrupt


class Checkpoint(BaseModel):
    """Where a state is: the thread, the namespace ("" for the root graph) and the checkpoint."""

    thread_id: str | None
    checkpoint_ns: str
    checkpoint_id: str | None
    checkpoint_map: dict[str, Any] | None


class ThreadTask(BaseModel):
    """A task of the next step: what it is, and its error, interrupts or result once it ran."""

    id: str
    name: str
    path: list[Any]
    error: str | None = Field(description="The task's exception as Python writes it, e.g. `ValueError('…')`.")
    interrupts: list[Interrupt]
    checkpoint: Checkpoint | None
    state: ThreadState | None = Field(description="A subgraph's state, with `subgraphs=true`.")
    result: Any


class ThreadState(BaseModel):
    """A checkpoint as the SDK's ThreadState (and RemoteGraph) read it: every key they index is present."""

    values: Any
    next: list[str] = Field(description="The nodes that run next; empty once the graph has ended.")
    tasks: list[ThreadTask]
    metadata: dict[str, Any]
    created_at: str | None = Field(description="When the checkpoint was written (ISO 8601); null before any.")
    checkpoint: Checkpoint
    parent_checkpoint: Checkpoint | None
    interrupts: list[Interrupt]
    checkpoint_id: str | None = Field(description="`checkpoint.checkpoint_id`, flat.")
    parent_checkpoint_id: str | None = Field(description="`parent_checkpoint.checkpoint_id`, flat.")

    @classmethod
    def of(cls, snapshot: StateSnapshot, thread_id: str) -> ThreadState:
        if not snapshot.config:  # a thread with no checkpoint yet: 200 with empty values, not 404
            return cls(
                values={},
                next=[],
                tasks=[],
                metadata={},
                created_at=None,
                checkpoint=Checkpoint(thread_id=thread_id, checkpoint_ns="", checkpoint_id=None, checkpoint_map=None),
                parent_checkpoint=None,
                interrupts=[],
                checkpoint_id=None,
                parent_checkpoint_id=None,
            )
        checkpoint = _checkpoint(snapshot.config)
        assert checkpoint is not None
        parent = _checkpoint(snapshot.parent_config)
        tasks = [
            ThreadTask(
                id=t.id,
                name=t.name,
                path=to_json(t.path),
                error=repr(t.error) if t.error is not None else None,
                interrupts=[to_json(i) for i in t.interrupts],
                checkpoint=_checkpoint(t.state) if isinstance(t.state, dict) else None,
                state=cls.of(t.state, thread_id) if isinstance(t.state, StateSnapshot) else None,
                result=to_json(t.result),
            )
            for t in snapshot.tasks
        ]
        return cls(
            values=to_json(snapshot.values),
            next=list(snapshot.next),
            tasks=tasks,
            metadata=to_json(snapshot.metadata or {}),
            created_at=snapshot.created_at,
            checkpoint=checkpoint,
            parent_checkpoint=parent,
            interrupts=[to_json(i) for i in snapshot.interrupts],
            checkpoint_id=checkpoint.checkpoint_id,
            parent_checkpoint_id=parent.checkpoint_id if parent else None,
        )


class StateUpdated(BaseModel):
    """The checkpoint a state update wrote (`configurable` is the same, as the LangGraph server answers)."""

    checkpoint: Checkpoint | None
    configurable: Checkpoint | None
    checkpoint_id: str | None


def checkpoint_of(config: RunnableConfig | None) -> dict[str, Any] | None:
    """A config's checkpoint as JSON (stream events carry it so); None without a config."""
    if not config:
        return None
    conf = config.get("configurable", {})
    return {
        "thread_id": conf.get("thread_id"),
        "checkpoint_ns": conf.get("checkpoint_ns", ""),
        "checkpoint_id": conf.get("checkpoint_id"),
        "checkpoint_map": conf.get("checkpoint_map"),
    }


def _checkpoint(config: RunnableConfig | None) -> Checkpoint | None:
    found = checkpoint_of(config)
    return Checkpoint(**found) if found is not None else None


def interrupts_by_task(snapshot: StateSnapshot) -> dict[str, list[dict[str, Any]]]:
    """Thread.interrupts: task id → its pending interrupts."""
    return {t.id: [to_json(i) for i in t.interrupts] for t in snapshot.tasks if t.interrupts}


def config_for(
    thread_id: str, checkpoint: dict[str, Any] | None = None, checkpoint_id: str | None = None
) -> RunnableConfig:
    conf: dict[str, Any] = {"thread_id": thread_id, "checkpoint_ns": ""}
    if checkpoint:
        conf["checkpoint_ns"] = checkpoint.get("checkpoint_ns") or ""
        if checkpoint.get("checkpoint_id"):
            conf["checkpoint_id"] = checkpoint["checkpoint_id"]
    if checkpoint_id:
        conf["checkpoint_id"] = checkpoint_id
    return {"configurable": conf}


def before_config(thread_id: str, before: Any) -> RunnableConfig | None:
    """History's `before` arrives as a checkpoint id, a Checkpoint dict or a config; accept all three."""
    if not before:
        return None
    if isinstance(before, str):
        return config_for(thread_id, checkpoint_id=before)
    if isinstance(before, dict):
        inner = before.get("configurable", before)
        if inner.get("checkpoint_id"):
            return config_for(thread_id, checkpoint_id=inner["checkpoint_id"])
    raise InvalidRequest("`before` must be a checkpoint id, a checkpoint object or a config with checkpoint_id")


async def read_state(
    graph: Any,
    thread_id: str,
    *,
    checkpoint: dict[str, Any] | None = None,
    checkpoint_id: str | None = None,
    subgraphs: bool = False,
) -> ThreadState:
    snapshot = await graph.aget_state(config_for(thread_id, checkpoint, checkpoint_id), subgraphs=subgraphs)
    return ThreadState.of(snapshot, thread_id)


async def history(
    graph: Any,
    thread_id: str,
    *,
    limit: int,
    before: Any,
    metadata: dict[str, Any] | None,
    checkpoint: dict[str, Any] | None,
) -> list[ThreadState]:
    states = []
    async for snapshot in graph.aget_state_history(
        config_for(thread_id, checkpoint),
        filter=metadata or None,
        before=before_config(thread_id, before),
        limit=limit,
    ):
        states.append(ThreadState.of(snapshot, thread_id))
    return states


# `pending` is the agent's record of the call under review, and approve is the node that asks about it:
# neither may be written or impersonated from outside, or a call could look reviewed when nobody was
# asked. (The approval gate refuses such a call anyway; refusing the write says why, up front.)
_REVIEW_KEYS = ("pending", "handoff")
_REVIEW_NODES = ("approve", "execute", "human", "handoff")


def refuse_review_bypass(*, values: Any = None, as_node: str | None = None, goto: Any = None) -> None:
    """Raise Conflict for a state update or command that would change a pending call or skip the
    node that asks a reviewer about it."""
    written = _keys_written(values)
    if touched := sorted(written & set(_REVIEW_KEYS)):
        raise Conflict(
            f"state key {touched[0]!r} holds what awaits a person (a call under review, a handoff) and cannot be "
            "written; decide approvals through POST /approvals/{approval_id} or command.resume, and answer "
            "handoffs through POST /handoffs/{handoff_id}/reply, /resolve or /return"
        )
    if as_node == "human":
        raise Conflict(
            "updating state as node 'human' would record an answer no person gave; "
            "answer the handoff through POST /handoffs/{handoff_id}/reply, /resolve or /return"
        )
    if as_node == "approve":
        raise Conflict(
            "updating state as node 'approve' would record a review nobody gave; "
            "decide the approval through POST /approvals/{approval_id} or command.resume"
        )
    if jumped := sorted(_goto_targets(goto) & set(_REVIEW_NODES)):
        raise Conflict(
            f"command.goto to {jumped[0]!r} would run a step without asking its reviewer; "
            "let the graph route, and decide approvals through POST /approvals/{approval_id}"
        )


def _keys_written(values: Any) -> set[str]:
    """State keys an update writes: a dict, a list of dicts (supersteps), or a list of (key, value) pairs."""
    if isinstance(values, dict):
        return set(values)
    if isinstance(values, list):
        keys: set[str] = set()
        for item in values:
            if isinstance(item, dict):
                keys |= _keys_written(item.get("values", item))
            elif isinstance(item, list | tuple) and item and isinstance(item[0], str):
                keys.add(item[0])
        return keys
    return set()


def _goto_targets(goto: Any) -> set[str]:
    if isinstance(goto, str):
        return {goto}
    if isinstance(goto, dict):
        return {str(goto.get("node"))}
    if isinstance(goto, list):
        return set().union(*(_goto_targets(g) for g in goto)) if goto else set()
    return set()


async def update_state(
    graph: Any,
    thread_id: str,
    *,
    values: Any,
    as_node: str | None,
    checkpoint: dict[str, Any] | None,
    checkpoint_id: str | None,
    busy: bool,
) -> StateUpdated:
    if busy:
        raise Conflict(f"thread {thread_id} has in-flight runs; wait for them or cancel them before editing state")
    refuse_review_bypass(values=values, as_node=as_node)
    config = await graph.aupdate_state(config_for(thread_id, checkpoint, checkpoint_id), values, as_node=as_node)
    cp = _checkpoint(config)
    return StateUpdated(checkpoint=cp, configurable=cp, checkpoint_id=cp.checkpoint_id if cp else None)
