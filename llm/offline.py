"""A deterministic chat model that ships with Handrail, so the service does real work with no keys.

It is a LangChain chat model with tool calling. Which role it plays follows from how it is called:
bound to the `Plan` tool it plans, bound to one other tool it fills that tool's arguments, unbound it
writes the answer. Its rules live in `offline_rules` and read only what a provider model would read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from llm import offline_rules as rules
from llm.protocol import extract, last_user_text

PLAN_TOOL = "Plan"


class OfflineChatModel(BaseChatModel):
    """Rule-based planner, argument filler and answer writer. Same input, same output, always."""

    model_name: str = "handrail-offline-1"

    @property
    def _llm_type(self) -> str:
        return "handrail-offline"

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], tool_choice=tool_choice, **kwargs)

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
        return self._respond(messages, kwargs.get("tools") or [])

    def _respond(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        data = extract(messages)
        names = [t["function"]["name"] for t in tools]
        if PLAN_TOOL in names:
            catalogue = {t["name"] for t in data.get("tools", [])}
            steps = rules.plan_steps(
                last_user_text(messages), catalogue, data.get("observations", []), data.get("feedback")
            )
            message = self._call(PLAN_TOOL, {"steps": steps})
        elif names:
            step = data.get("step", {})
            args = rules.fill_references(step.get("args", {}), data.get("observations", []))
            message = self._call(names[0], args)
        else:
            message = AIMessage(content=rules.write_answer(data))
        prompt_chars = sum(len(str(m.content)) for m in messages)
        output_chars = len(str(message.content)) + len(json.dumps([c["args"] for c in message.tool_calls]))
        # A rough 4-characters-per-token count, so budgets and counters behave as with a real model.
        message.usage_metadata = {
            "input_tokens": prompt_chars // 4,
            "output_tokens": output_chars // 4,
            "total_tokens": prompt_chars // 4 + output_chars // 4,
        }
        message.response_metadata = {"model_name": self.model_name}
        return ChatResult(generations=[ChatGeneration(message=message)])

    @staticmethod
    def _call(name: str, args: dict[str, Any]) -> AIMessage:
        # Deterministic id: the same call in the same situation gets the same id on a replay.
        digest = hashlib.sha256(json.dumps([name, args], sort_keys=True, default=str).encode()).hexdigest()
        return AIMessage(content="", tool_calls=[{"name": name, "args": args, "id": f"call_{digest[:16]}"}])
