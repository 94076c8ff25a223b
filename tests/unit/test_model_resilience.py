"""The pure parts of model resilience: which failures are retried, how long to wait, and the breaker's
state machine on a fake clock (llm/resilience.py, llm/breaker.py). No I/O."""

from __future__ import annotations

import email.utils
from typing import Any

import httpx
import openai
import pytest

from llm.breaker import Breakers, MemoryStore
from llm.resilience import (
    Failure,
    MalformedReply,
    ModelsUnavailable,
    RetrySettings,
    backoff_s,
    classify,
    retry_after_s,
)

REQUEST = httpx.Request("POST", "https://api.example/v1/chat/completions")


def status_error(status: int, message: str = "boom", headers: dict[str, str] | None = None, code: str | None = None):
    response = httpx.Response(status, headers=headers or {}, request=REQUEST)
    body = {"message": message, "type": "x", "param": None, "code": code}
    cls = {429: openai.RateLimitError, 401: openai.AuthenticationError, 400: openai.BadRequestError}.get(
        status, openai.InternalServerError if status >= 500 else openai.APIStatusError
    )
    return cls(message, response=response, body=body)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 529])
def test_rate_limits_and_server_errors_are_transient(status: int):
    failure = classify(status_error(status, "try later"))
    assert failure.transient and failure.counts
    assert failure.reason == f"{status} try later"


@pytest.mark.parametrize(("status", "counts"), [(400, False), (401, True), (403, True), (404, True), (422, False)])
def test_client_errors_are_permanent_and_only_misconfigurations_count_against_the_breaker(status: int, counts: bool):
    failure = classify(status_error(status))
    assert not failure.transient
    assert failure.counts is counts


def test_a_context_too_long_error_is_permanent_and_says_so():
    exc = status_error(400, "This model's maximum context length is 128000 tokens", code="context_length_exceeded")
    failure = classify(exc)
    assert (failure.kind, failure.transient, failure.counts) == ("context_too_long", False, False)
    assert failure.reason.startswith("context too long: 400 This model's maximum context length")


def test_timeouts_connection_errors_and_malformed_replies_are_transient():
    assert classify(openai.APITimeoutError(request=REQUEST)).kind == "timeout"
    assert classify(TimeoutError()).kind == "timeout"
    assert classify(httpx.ReadTimeout("slow", request=REQUEST)).kind == "timeout"
    assert classify(openai.APIConnectionError(request=REQUEST)).kind == "connection"
    assert classify(httpx.ConnectError("refused")).kind == "connection"
    malformed = classify(MalformedReply("the planner did not call the Plan tool"))
    assert malformed.transient and not malformed.counts


def test_an_unknown_exception_is_permanent_and_not_the_providers_fault():
    failure = classify(KeyError("choices"))
    assert not failure.transient and not failure.counts
    assert failure.reason == "KeyError: 'choices'"


def test_retry_after_is_read_from_the_error_response():
    assert classify(status_error(429, headers={"Retry-After": "2"})).retry_after_s == 2.0
    assert classify(status_error(503, headers={"retry-after-ms": "250"})).retry_after_s == 0.25
    assert classify(status_error(500)).retry_after_s is None


def test_retry_after_prefers_milliseconds_and_reads_http_dates():
    assert retry_after_s({"retry-after-ms": "1500", "Retry-After": "9"}) == 1.5
    assert retry_after_s({"Retry-After": "0.5"}) == 0.5
    assert retry_after_s({"Retry-After": "-3"}) == 0.0
    date = email.utils.formatdate(1_000_030.0, usegmt=True)
    assert retry_after_s({"Retry-After": date}, now=lambda: 1_000_000.0) == pytest.approx(30.0)
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({}) is None


def test_backoff_doubles_from_the_initial_wait_up_to_the_cap_with_equal_jitter():
    low = [backoff_s(n, initial_s=0.5, cap_s=4.0, rng=lambda: 0.0) for n in range(1, 7)]
    high = [backoff_s(n, initial_s=0.5, cap_s=4.0, rng=lambda: 1.0) for n in range(1, 7)]
    assert high == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert low == [h / 2 for h in high], "at least half the ceiling is always waited"


def test_a_retry_waits_the_longer_of_backoff_and_retry_after_and_gives_up_beyond_the_cap():
    settings = RetrySettings(attempts=3, backoff_s=0.5, max_wait_s=10.0)
    rate_limited = Failure("rate_limited", "429", transient=True, retry_after_s=2.0)
    assert settings.delay(rate_limited, 1, rng=lambda: 1.0) == 2.0
    assert settings.delay(Failure("rate_limited", "429", transient=True, retry_after_s=0.0), 2, rng=lambda: 1.0) == 1.0
    too_long = Failure("rate_limited", "429", transient=True, retry_after_s=3600.0)
    assert settings.delay(too_long, 1) is None, "an hour's wait is the fallback's job"
    assert settings.delay(Failure("unauthorized", "401", transient=False), 1) is None


def test_the_chain_failure_names_every_model_and_why():
    one = ModelsUnavailable("planner", [("openai:gpt-4.1-mini", "503 overloaded")])
    assert str(one) == "the planner model (openai:gpt-4.1-mini) failed: 503 overloaded"
    two = ModelsUnavailable("planner", [("openai:gpt-4.1-mini", "503 overloaded"), ("anthropic:claude", "timed out")])
    assert str(two) == (
        "the planner model (openai:gpt-4.1-mini, then anthropic:claude) failed: "
        "openai:gpt-4.1-mini: 503 overloaded; anthropic:claude: timed out"
    )


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def breakers(clock: Clock, **kwargs: Any) -> Breakers:
    return Breakers(MemoryStore(clock), failures=3, reset_s=30.0, refresh_s=0, clock=clock, **kwargs)


async def test_a_breaker_opens_after_n_failures_in_a_row_and_a_success_resets_the_count():
    clock, changes = Clock(), []
    board = breakers(clock, on_change=lambda model, state: changes.append((model, state)))
    for _ in range(2):
        assert await board.admit("m") == "closed"
        await board.record("m", ok=False, reason="503")
    await board.record("m", ok=True)
    for _ in range(2):
        await board.record("m", ok=False, reason="503")
    assert await board.admit("m") == "closed", "two in a row since the success: still closed"
    await board.record("m", ok=False, reason="503")
    assert await board.admit("m") == "open"
    assert board.open_breakers() == ["m"]
    assert changes == [("m", "open")]


async def test_an_open_breaker_lets_one_probe_through_after_the_reset_time_and_closes_on_its_success():
    clock, changes = Clock(), []
    board = breakers(clock, on_change=lambda model, state: changes.append(state))
    for _ in range(3):
        await board.record("m", ok=False)
    clock.now += 29.9
    assert await board.admit("m") == "open"
    clock.now += 0.2
    assert board.state("m") == "half_open"
    assert await board.admit("m") == "probe"
    assert await board.admit("m") == "open", "only one probe at a time"
    await board.record("m", ok=True)
    assert await board.admit("m") == "closed"
    assert board.open_breakers() == []
    assert changes == ["open", "half_open", "closed"]


async def test_a_failed_probe_opens_the_breaker_for_another_period():
    clock = Clock()
    board = breakers(clock)
    for _ in range(3):
        await board.record("m", ok=False)
    clock.now += 31
    assert await board.admit("m") == "probe"
    await board.record("m", ok=False)
    assert await board.admit("m") == "open"
    clock.now += 29
    assert await board.admit("m") == "open"
    clock.now += 2
    assert await board.admit("m") == "probe"


async def test_a_probe_whose_caller_vanished_is_released_after_its_lease():
    clock = Clock()
    board = breakers(clock, probe_lease_s=10.0)
    for _ in range(3):
        await board.record("m", ok=False)
    clock.now += 31
    assert await board.admit("m") == "probe"
    clock.now += 11
    assert await board.admit("m") == "probe"


class BrokenStore(MemoryStore):
    kind = "broken"

    async def read(self, keys):  # type: ignore[no-untyped-def]
        raise OSError("store down")

    async def failed(self, key, *, threshold, reset_s):  # type: ignore[no-untyped-def]
        raise OSError("store down")

    async def claim_probe(self, key, *, reset_s, lease_s):  # type: ignore[no-untyped-def]
        raise OSError("store down")


async def test_an_unreachable_store_never_fails_a_call_and_the_process_keeps_count_itself():
    clock = Clock()
    board = Breakers(BrokenStore(clock), failures=2, reset_s=5.0, refresh_s=0, clock=clock)
    assert await board.admit("m") == "closed"
    await board.record("m", ok=False)
    await board.record("m", ok=False)
    assert await board.admit("m") == "open"
    clock.now += 6
    assert await board.admit("m") == "probe"
    await board.record("m", ok=True)
    assert await board.admit("m") == "closed"
