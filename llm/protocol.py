"""How nodes hand structured facts to a model inside a prompt: one tagged JSON block.

Provider models read it as ordinary prompt text; the offline model parses it, so both see the same input.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage

_BLOCK = re.compile(r"<handrail-data>\s*(.*?)\s*</handrail-data>", re.DOTALL)


def embed(data: dict[str, Any]) -> str:
    return f"<handrail-data>\n{json.dumps(data, default=str, ensure_ascii=False)}\n</handrail-data>"


def extract(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The last data block found in the messages ({} when there is none)."""
    for message in reversed(messages):
        if isinstance(message.content, str) and (match := _BLOCK.search(message.content)):
            return dict(json.loads(match.group(1)))
    return {}


def last_user_text(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""
