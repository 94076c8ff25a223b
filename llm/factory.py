"""Builds the chat model for each role from `provider:model` strings; `offline` is the built-in model."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from llm.offline import OfflineChatModel


def make_chat_model(
    spec: str,
    *,
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 2,
) -> BaseChatModel:
    """`offline`, or anything `init_chat_model` takes (`openai:gpt-4.1-mini`, `anthropic:…`).

    A timeout is always passed: ChatOpenAI's default is no timeout at all (field notes §6).
    """
    if spec.strip().lower() == "offline":
        return OfflineChatModel()
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"timeout": timeout_s, "max_retries": max_retries}
    if base_url:
        kwargs["base_url"] = base_url
    if api_key:
        kwargs["api_key"] = api_key
    try:
        return init_chat_model(spec, **kwargs)
    except (ValueError, ImportError) as exc:
        raise ValueError(
            f"cannot build model {spec!r}: {exc}. Use `offline`, or `provider:model` with the provider's "
            "package installed (e.g. `openai:gpt-4.1-mini` needs langchain-openai)"
        ) from exc
