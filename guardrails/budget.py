"""Budget layer: a model call is admitted only if what the run has spent plus that call's upper
estimate stays within the run's caps, so a cap is never passed by more than one call's error."""

from __future__ import annotations

from guardrails.verdict import Verdict
from llm.usage import Usage

LAYER = "budget"


def check(spent: Usage, estimate: Usage, *, max_tokens: int, max_cost_usd: float) -> Verdict:
    if spent.tokens + estimate.tokens > max_tokens:
        return Verdict.block(
            LAYER,
            "run_tokens",
            f"budget reached: {spent.tokens} tokens used and the next model call could take {estimate.tokens} more, "
            f"over this run's cap of {max_tokens} (max_tokens)",
        )
    if spent.cost_usd + estimate.cost_usd > max_cost_usd:
        return Verdict.block(
            LAYER,
            "run_cost",
            f"budget reached: ${spent.cost_usd:.4f} spent and the next model call could cost ${estimate.cost_usd:.4f} "
            f"more, over this run's cap of ${max_cost_usd:g} (max_cost_usd)",
        )
    return Verdict.allow(LAYER)
