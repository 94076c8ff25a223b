"""Run request bodies as the LangGraph Server API defines them, and their normalised stored form."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handrail.errors import InvalidRequest, Unprocessable

# Stream modes a run can ask for, mapped to the LangGraph astream mode each is made from. `events` is
# astream_events v2 instead: the executor switches to it, and reads the other modes out of it.
STREAM_MODES: dict[str, str] = {
    "values": "values",
    "updates": "updates",
    "messages-tuple": "messages",  # the pairs as LangGraph emits them, in events named `messages`
    "messages": "messages",  # the three-event form (handrail/runs/messages.py)
    "custom": "custom",
    "debug": "debug",
    "tasks": "tasks",
    "checkpoints": "checkpoints",
    "events": "events",
}
EVENTS = "events"
MultitaskStrategy = Literal["reject", "interrupt", "rollback", "enqueue"]
MAX_AFTER_SECONDS = 365 * 24 * 3600  # a later start is a mistake, and Postgres intervals overflow long before 1e300


def configurable_is_an_object(config: dict[str, Any] | None) -> dict[str, Any] | None:
    """`config.configurable` is merged key by key with the assistant's: it must be an object (or absent)."""
    if config is not None and config.get("configurable") is not None and not isinstance(config["configurable"], dict):
        raise ValueError(f"config.configurable must be an object, got {type(config['configurable']).__name__}")
    return config


def checkpoint_ids_are_strings(value: Any) -> Any:
    """A checkpoint reference (`{checkpoint_id, checkpoint_ns, ...}`, or a config holding one under `configurable`)
    whose ids are strings: the checkpointer compares them with text columns."""
    if isinstance(value, dict):
        inner = value.get("configurable", value)
        for key in ("checkpoint_id", "checkpoint_ns", "thread_id"):
            if isinstance(inner, dict) and inner.get(key) is not None and not isinstance(inner[key], str):
                raise ValueError(f"{key} must be a string, got {type(inner[key]).__name__}")
    return value


class RunCommand(BaseModel):
    """`Command` over the wire: resume an interrupt, update state, or jump to a node."""

    model_config = ConfigDict(extra="forbid")

    resume: Any = None
    update: dict[str, Any] | list[Any] | None = None
    goto: str | dict[str, Any] | list[Any] | None = None


# kwargs["record"] of a run whose only reader wants its final state (/wait): see executor._stream.
FINAL_ONLY = "final"


class RunCreate(BaseModel):
    """The body of every run-creating endpoint. Unknown fields are tolerated, as the SDK sends some."""

    model_config = ConfigDict(extra="allow")

    assistant_id: str = Field(description="Assistant UUID, or a graph id such as `agent`.")
    input: dict[str, Any] | list[Any] | None = Field(None, description="Graph input; null continues a thread.")
    command: RunCommand | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    checkpoint: dict[str, Any] | None = None
    checkpoint_id: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    webhook: str | None = None
    multitask_strategy: MultitaskStrategy = "enqueue"
    if_not_exists: Literal["create", "reject"] = "reject"
    on_completion: Literal["delete", "keep"] | None = None
    on_disconnect: Literal["cancel", "continue"] = "continue"
    stream_mode: str | list[str] = "values"
    stream_subgraphs: bool = False
    stream_resumable: bool = False
    feedback_keys: list[str] | None = None
    after_seconds: float | None = Field(
        None, ge=0, le=MAX_AFTER_SECONDS, description="Delay before the run starts, in seconds (at most a year)."
    )
    durability: Literal["sync", "async", "exit"] | None = None
    checkpoint_during: bool | None = None

    _config = field_validator("config")(configurable_is_an_object)
    _checkpoint = field_validator("checkpoint")(checkpoint_ids_are_strings)

    @field_validator("stream_mode")
    @classmethod
    def _known_modes(cls, value: str | list[str]) -> list[str]:
        modes = [value] if isinstance(value, str) else list(value)
        unknown = [m for m in modes if m not in STREAM_MODES]
        if unknown:
            raise ValueError(f"unsupported stream_mode {unknown}; supported: {', '.join(STREAM_MODES)}")
        return modes or ["values"]

    def stream_modes(self) -> list[str]:
        return self.stream_mode if isinstance(self.stream_mode, list) else [self.stream_mode]

    def normalised(self, default_durability: str) -> dict[str, Any]:
        """What the worker needs to execute the run, stored as the run's `kwargs`."""
        config = dict(self.config or {})
        if config.get("configurable") and self.context:
            raise InvalidRequest("send either config.configurable or context, not both (LangGraph ≥ 0.6 uses context)")
        durability = self.durability
        if durability is None and self.checkpoint_during is not None:
            durability = "async" if self.checkpoint_during else "exit"
        command = self.command.model_dump(exclude_none=True) if self.command else None
        if command is not None and command.get("goto") == []:
            command.pop("goto")  # RemoteGraph sends goto: [] with every resume
        checkpoint_id = self.checkpoint_id or (self.checkpoint or {}).get("checkpoint_id")
        return {
            "input": self.input,
            "command": command or None,
            "config": config,
            "context": self.context or {},
            "stream_mode": self.stream_modes(),
            "interrupt_before": self.interrupt_before,
            "interrupt_after": self.interrupt_after,
            "webhook": self.webhook,
            "feedback_keys": self.feedback_keys,
            "subgraphs": self.stream_subgraphs,
            "resumable": self.stream_resumable,
            "durability": durability or default_durability,
            "checkpoint_id": checkpoint_id,
            "checkpoint_ns": (self.checkpoint or {}).get("checkpoint_ns", ""),
            "on_disconnect": self.on_disconnect,
        }


def event_mode(event: str) -> str:
    """The stream mode a recorded event answers (`updates|sub:…` → `updates`; `messages` → `messages-tuple`;
    `messages/partial` → `messages`), so that a join asking for some modes gets just their events."""
    name = event.split("|", 1)[0]
    if name == "messages":
        return "messages-tuple"
    return name.split("/", 1)[0]


def require_modes_known(modes: list[str]) -> list[str]:
    """For join streams: `stream_mode=` (empty) means every mode the run records."""
    cleaned = [m for m in modes if m]
    unknown = [m for m in cleaned if m not in STREAM_MODES]
    if unknown:
        raise Unprocessable(f"unsupported stream_mode {unknown}; supported: {', '.join(STREAM_MODES)}")
    return cleaned
