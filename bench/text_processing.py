"""`python -m bench.text_processing`: how long the offline planner takes on adversarial requests.

For each request shape and size it prints the time of the planner's rules (`plan_steps`) and of the whole
offline model called as nodes/plan.py calls it; for the small sizes also the time of the patterns the rules ran
before they were made linear (copied below, since the old module is gone). Nothing is asserted: the figures are
for reading and comparing. A "before" cell that outruns its budget is cut off and printed as ">N s".
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import signal
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from types import FrameType

from langchain_core.messages import HumanMessage, SystemMessage

from llm.offline import OfflineChatModel
from llm.offline_rules import plan_steps
from llm.protocol import embed
from nodes.plan import PROMPT, Plan

TOOLS = {"search_docs", "calculator", "get_time", "create_ticket", "send_email"}

# The same shapes as tests/unit/test_offline_model.py, built at any size n (in characters, roughly).
INPUTS: dict[str, Callable[[int], str]] = {
    "refund policy + 'a'*n": lambda n: "refund policy " + "a" * n,
    "digits and spaces": lambda n: "1 " * (n // 2),
    "digits": lambda n: "1" * n,
    "spaces": lambda n: " " * n,
    "'@'*n": lambda n: "@" * n,
    "'.'*n": lambda n: "." * n,
    "letters and dots": lambda n: "a." * (n // 2),
    "'(+'*n": lambda n: "(+" * (n // 2),
    "topic, then spaces": lambda n: "tell me about refunds" + " " * n + "x",
    "'call calculator with {'*k": lambda n: "call calculator with {" * (n // 22),
    "unclosed data tags": lambda n: "<handrail-data>" * (n // 15),
}

# What llm/offline_rules.py and llm/protocol.py ran on a request before (commit 9ddd8dd), pattern for pattern.
_OLD_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_OLD_ARITHMETIC = re.compile(
    r"(?:\d+(?:\.\d+)?\s*%\s*of\s*\d+(?:\.\d+)?)|(?:[\d(][\d\s.+\-*/^()x×%]*[+\-*/^x×%][\d\s.+\-*/^()x×%]*[\d)%])"
)
_OLD_TOPIC = re.compile(
    r"(?:summary of|summarize|summarise|about|regarding|explain|policy on|details of)\s+(?:the\s+|our\s+|your\s+)?(.+)",
    re.IGNORECASE,
)
_OLD_TOPIC_END = re.compile(r"\s+(?:to|and send|and email|for)\s*$|[.?!]")
_OLD_EXPLICIT_CALL = re.compile(r"\bcall\s+([A-Za-z_][\w]*)\s+with\s+(?=\{)")
_OLD_BLOCK = re.compile(r"<handrail-data>\s*(.*?)\s*</handrail-data>", re.DOTALL)


def before(request: str) -> None:
    """The old planner's pattern work on `request`, in the order it ran (the model read the user's message for a
    data block first). A decoding error here is caught; the old code let a RecursionError crash the call."""
    _OLD_BLOCK.search(request)
    for match in _OLD_EXPLICIT_CALL.finditer(request):
        try:
            json.JSONDecoder().raw_decode(request, match.end())
        except (ValueError, RecursionError):
            pass
    _OLD_EMAIL.search(request)
    if topic := _OLD_TOPIC.search(request):
        _OLD_TOPIC_END.split(topic.group(1).strip())
    _OLD_ARITHMETIC.search(request)
    _OLD_EMAIL.sub(" ", request)  # _clean, on the whole request when nothing else was planned


class OverBudget(Exception):
    pass


@contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Cut the block off after `seconds`: `re` checks for signals while it matches, so the alarm lands mid-match."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise OverBudget

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def show(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


async def main(sizes: list[int], before_sizes: list[int], budget_s: float) -> None:
    planner = OfflineChatModel().bind_tools([Plan], tool_choice="Plan")
    system = SystemMessage(PROMPT + "\n" + embed({"tools": [{"name": t} for t in sorted(TOOLS)], "observations": []}))
    sys.stdout.write(f"{'input':<28} {'size':>10} {'before':>12} {'rules':>12} {'model':>12}\n")
    for name, build in INPUTS.items():
        for size in sorted(set(sizes) | set(before_sizes)):
            request = build(size)
            old = "-"
            if size in before_sizes:
                try:
                    with budget(budget_s):
                        old = show(timed(partial(before, request)))
                except OverBudget:
                    old = f">{budget_s:g} s"
            rules = timed(partial(plan_steps, request, TOOLS, [], None))
            started = time.perf_counter()
            await planner.ainvoke([system, HumanMessage(request)])
            model = time.perf_counter() - started
            sys.stdout.write(f"{name:<28} {len(request):>10,} {old:>12} {show(rules):>12} {show(model):>12}\n")
            sys.stdout.flush()


def _sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000, 1_000_000, 2_000_000])
    parser.add_argument("--before-sizes", type=_sizes, default=[10_000, 40_000], help="'' to skip the old patterns")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds allowed to one 'before' cell")
    options = parser.parse_args()
    asyncio.run(main(options.sizes, options.before_sizes, options.budget))
