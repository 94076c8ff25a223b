"""The shared shape of Handrail's in-process chat models: tool binding and generation without I/O."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

# Requests up to this many characters are answered on the event loop (see _agenerate).
INLINE_CHARS = 4000


class LocalToolCallingModel(BaseChatModel):
    """A chat model answered by `_respond(messages, tools)`; tools arrive as OpenAI function schemas,
    exactly as `bind_tools` would send them to a provider."""

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

    def _respond(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        raise NotImplementedError

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._respond(messages, kwargs.get("tools") or [])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if _chars(messages) <= INLINE_CHARS:
            # A short request takes well under a millisecond: the thread hop cost more than the work
            # (0.5-1 ms of CPU per run of three model calls, measured in-process).
            return self._respond(messages, kwargs.get("tools") or [])
        # Off the event loop: `_respond` is CPU work. The offline rules are linear and read at most MAX_REQUEST_CHARS
        # of a request, yet that is tens of milliseconds on an oversized one, and the data block is parsed whole. In a
        # worker thread the loop keeps serving health checks, other runs and SIGTERM: the GIL comes back to it between
        # the rules' steps, each a short C call. (That is also why the rules must stay linear: no thread helps while
        # one long `re` match holds the GIL.) The hop costs tens of microseconds, nothing next to a checkpoint write.
        return await asyncio.to_thread(self._respond, messages, kwargs.get("tools") or [])


def _chars(messages: list[BaseMessage]) -> int:
    return sum(len(m.content) if isinstance(m.content, str) else len(str(m.content)) for m in messages)
