"""A chat model for tests and evals that replays a script and fails loudly on an unexpected call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr


class ScriptExhausted(AssertionError):
    """The code under test called the model more often than the script allows."""


class ScriptedChatModel(BaseChatModel):
    """Returns `script[i]` on the i-th call; records every call's messages and bound tools."""

    script: list[AIMessage]
    _calls: list[tuple[list[BaseMessage], list[dict[str, Any]]]] = PrivateAttr(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    @property
    def calls(self) -> list[tuple[list[BaseMessage], list[dict[str, Any]]]]:
        return self._calls

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _next(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        if len(self._calls) >= len(self.script):
            raise ScriptExhausted(f"unexpected model call #{len(self._calls) + 1}; the script has {len(self.script)}")
        self._calls.append((messages, tools))
        return ChatResult(generations=[ChatGeneration(message=self.script[len(self._calls) - 1])])

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._next(messages, kwargs.get("tools") or [])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._next(messages, kwargs.get("tools") or [])


def plan_message(*steps: dict[str, Any], call_id: str = "plan_1") -> AIMessage:
    """A scripted planner reply proposing `steps`."""
    return AIMessage(content="", tool_calls=[{"name": "Plan", "args": {"steps": list(steps)}, "id": call_id}])


def tool_call_message(name: str, args: dict[str, Any], call_id: str = "call_1") -> AIMessage:
    """A scripted executor reply calling `name` with `args`."""
    return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": call_id}])
