"""A deterministic chat model that ships with Handrail, so the service does real work with no keys.

It is a LangChain chat model with tool calling. Which role it plays follows from how it is called:
bound to the `Plan` tool it plans, bound to one other tool it fills that tool's arguments, unbound it
writes the answer. Its rules live in `offline_rules` and read only what a provider model would read.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from llm import offline_rules as rules
from llm.local import LocalToolCallingModel
from llm.offline_summary import summarize
from llm.protocol import extract, last_user_text

PLAN_TOOL = "Plan"


class OfflineChatModel(LocalToolCallingModel):
    """Rule-based planner, argument filler and answer writer. Same input, same output, always."""

    model_name: str = "handrail-offline-1"

    @property
    def _llm_type(self) -> str:
        return "handrail-offline"

    def _respond(self, messages: list[BaseMessage], tools: list[dict[str, Any]]) -> ChatResult:
        data = extract(messages)
        names = [t["function"]["name"] for t in tools]
        if PLAN_TOOL in names:
            catalogue = {t["name"] for t in data.get("tools", [])}
            steps = rules.plan_steps(
                last_user_text(messages),
                catalogue,
                data.get("observations", []),
                data.get("feedback"),
                memories=[m["text"] for m in data.get("memories") or [] if isinstance(m, dict) and "text" in m],
            )
            message = self._call(PLAN_TOOL, {"steps": steps})
        elif names:
            step = data.get("step", {})
            args = rules.fill_references(step.get("args", {}), data.get("observations", []))
            message = self._call(names[0], args)
        elif "summary_so_far" in data:  # asked for a conversation's running summary (nodes/window.py)
            message = AIMessage(content=summarize(data))
        else:
            answer = rules.write_answer({**data, "request": last_user_text(messages)})
            if data.get("response_format"):  # asked for JSON: the same answer, as the one field it can fill
                answer = json.dumps({"answer": answer}, ensure_ascii=False)
            message = AIMessage(content=answer)
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
