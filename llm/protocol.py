"""How nodes hand structured facts to a model inside a prompt: one tagged JSON block.

Provider models read it as ordinary prompt text; the offline model parses it, so both see the same input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage

_OPEN, _CLOSE = "<handrail-data>", "</handrail-data>"


def embed(data: dict[str, Any]) -> str:
    # "<\/" is JSON for "</": a closing tag quoted in the data (a user can type one) cannot end the block early.
    body = json.dumps(data, default=str, ensure_ascii=False).replace("</", "<\\/")
    return f"{_OPEN}\n{body}\n{_CLOSE}"


def extract(messages: Sequence[BaseMessage]) -> dict[str, Any]:
    """The data block of the last system message that has one ({} when none does).

    Nodes put the block in a system message; a block typed into a user message is only text, so a user cannot
    stand in for the nodes' data (or crash the model with a block that is not JSON).
    """
    for message in reversed(messages):
        if isinstance(message, SystemMessage) and isinstance(message.content, str):
            block = _block(message.content)
            if block is not None:
                return dict(json.loads(block))
    return {}


def _block(text: str) -> str | None:
    """What lies between the first opening tag and the next closing tag, trimmed.

    Two substring searches: the lazy pattern `<handrail-data>\\s*(.*?)\\s*</handrail-data>` it replaces rescanned
    the rest of the text from every unclosed opening tag, O(n^2) on a text made of them.
    """
    start = text.find(_OPEN)
    if start < 0:
        return None
    end = text.find(_CLOSE, start + len(_OPEN))
    return None if end < 0 else text[start + len(_OPEN) : end].strip()


def last_user_text(messages: Sequence[BaseMessage]) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage):
            return message.text if hasattr(message, "text") else str(message.content)
    return ""
