"""Token accounting and cost: what a model response used and what it cost."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import AIMessage

# USD per million tokens (input, output). Unknown models cost 0 and are reported as such.
PRICES: dict[str, tuple[float, float]] = {
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "claude-sonnet-4-5": (3.00, 15.00),
    "claude-haiku-4-5": (1.00, 5.00),
}


@dataclass(frozen=True)
class Usage:
    tokens: int = 0
    cost_usd: float = 0.0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.tokens + other.tokens, self.cost_usd + other.cost_usd)


Prices = Mapping[str, tuple[float, float]]


def usage_of(message: AIMessage, prices: Prices | None = None) -> Usage:
    """Tokens and cost of one answer; `prices` (the deployment's: MODEL_PRICES over PRICES) by default PRICES."""
    meta: dict[str, Any] = dict(message.usage_metadata or {})
    tokens_in, tokens_out = meta.get("input_tokens", 0), meta.get("output_tokens", 0)
    model = str(message.response_metadata.get("model_name", ""))
    return priced(model, tokens_in, tokens_out, prices)


def priced(model: str, tokens_in: int, tokens_out: int, prices: Prices | None = None) -> Usage:
    table = PRICES if prices is None else prices
    price_in, price_out = 0.0, 0.0
    # Longest prefix wins: "gpt-4.1-mini-2025..." must not be priced as "gpt-4.1".
    for name in sorted(table, key=len, reverse=True):
        if model.startswith(name):
            price_in, price_out = table[name]
            break
    return Usage(tokens_in + tokens_out, (tokens_in * price_in + tokens_out * price_out) / 1_000_000)


# What a budget check assumes one answer may take. Generous on purpose: the check must be an upper
# bound of the call it admits, or a cap could be passed by more than that one call.
ANSWER_TOKENS_ALLOWANCE = 1024


def estimate_call(model: object, prompt_chars: int, prices: Prices | None = None) -> Usage:
    """An upper estimate of one model call before it is made: the prompt at 3 characters per token
    (tokenizers average about 4 on English; 3 errs high) plus the answer allowance. `model` is a chat
    model or one bound to tools; its `model_name` (or `model`) picks the price."""
    name = str(getattr(model, "model_name", None) or getattr(model, "model", None) or "")
    return priced(name, prompt_chars // 3 + 1, ANSWER_TOKENS_ALLOWANCE, prices)
