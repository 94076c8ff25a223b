"""Counting a prompt's tokens for the context window: an estimate, or the model's own tokenizer.

The estimate (langchain-core's: about 4 characters a token, plus a few per message) needs nothing. A
provider's tokenizer is exact but may fetch its vocabulary over the network the first time (OpenAI's
tiktoken does), so it is used only when CONTEXT_TOKENIZER=model, and a model whose count fails falls
back to the estimate for good rather than failing turns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage
from langchain_core.messages.utils import count_tokens_approximately

from llm.resilience import ModelChain

logger = logging.getLogger("handrail.llm")

TokenCounter = Callable[[Sequence[BaseMessage]], int]
Tokenizer = Literal["estimate", "model"]


def estimate(messages: Sequence[BaseMessage]) -> int:
    return count_tokens_approximately(messages)


def counter_for(chain: ModelChain, tokenizer: Tokenizer) -> TokenCounter:
    """How to count a prompt for the chain's primary model."""
    model = chain.links[0].model
    model = getattr(model, "bound", model)
    own = getattr(type(model), "get_num_tokens_from_messages", None)
    if (
        tokenizer != "model"
        or not isinstance(model, BaseChatModel)
        or own is BaseChatModel.get_num_tokens_from_messages
    ):
        return estimate
    failed = False

    def count(messages: Sequence[BaseMessage]) -> int:
        nonlocal failed
        if not failed:
            try:
                return model.get_num_tokens_from_messages(list(messages))
            except Exception:
                failed = True
                logger.warning("tokens.model_tokenizer_failed", extra={"model": chain.model_name}, exc_info=True)
        return estimate(messages)

    return count
