"""A chat model for tests and evals that replays a script and fails loudly on an unexpected call."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import PrivateAttr

from llm.local import LocalToolCallingModel


class ScriptExhausted(AssertionError):
    """The code under test called the model more often than the script allows."""


class ScriptedChatModel(LocalToolCallingModel):
    """Returns `script[i]` on the i-th call; records every call's messages and bound tools."""

    script: list[AIMessage]
    model_name: str = "scripted"
    _calls: list[tuple[list[BaseMessage], list[dict[str, Any]]]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[tuple[list[BaseMessage], list[dict[str, Any]]]]:
        return self._calls

    def _respond(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        if len(self._calls) >= len(self.script):
            raise ScriptExhausted(f"unexpected model call #{len(self._calls) + 1}; the script has {len(self.script)}")
        self._calls.append((messages, tools))
        return ChatResult(generations=[ChatGeneration(message=self.script[len(self._calls) - 1])])


def plan_message(*steps: dict[str, Any], call_id: str = "plan_1") -> AIMessage:
    """A scripted planner reply proposing `steps`."""
    return AIMessage(content="", tool_calls=[{"name": "Plan", "args": {"steps": list(steps)}, "id": call_id}])


def tool_call_message(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """A scripted executor reply calling `name` with `args`."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
