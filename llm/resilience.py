"""Model calls that survive a flaky provider: each role's models form a chain (the primary, then its
fallbacks), each link retried on transient failures with backoff that honours `Retry-After`, and skipped
while its circuit breaker (llm/breaker.py) is open. The nodes call every model through `ModelChain`.

Who retries: Handrail, not the provider client. The clients are built with `max_retries=0`
(handrail/wiring.py), because the openai SDK's own retries (2 by default, field notes §6) would multiply
with ours (3 × 3 = 9 requests per call), are invisible to the breaker and the metrics, cap Retry-After at
60 s and never retry a malformed tool call. The retry itself is langchain-core's `RunnableRetry`
(`with_retry`), given a wait that reads Retry-After. `with_fallbacks` is not used for the chain: it
re-raises only the first error (the stop reason names every link's) and cannot skip a link whose breaker
is open without calling it. LangGraph's node `RetryPolicy` does not fit either: it re-runs the whole node
(budget checks, audit notes) and ends in an exception rather than a graceful stop.
"""

from __future__ import annotations

import email.utils
import logging
import math
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import Runnable, RunnableLambda
from langchain_core.runnables.retry import RunnableRetry
from tenacity import RetryCallState, stop_after_attempt

from llm.breaker import Breakers

logger = logging.getLogger("handrail.models")

# Statuses worth another attempt: timeout, conflict, too early, rate limit, and every server error.
_TRANSIENT_STATUSES = {408, 409, 425, 429}
# A misconfiguration that fails every call the same way: counted by the breaker, so it is skipped.
_BROKEN_STATUSES = {401, 403, 404}
_CONTEXT_TOO_LONG = ("context_length_exceeded", "maximum context length", "context window", "prompt is too long")


@dataclass(frozen=True)
class Failure:
    """What one failed model call means for the next attempt."""

    kind: str
    """`rate_limited`, `server_error`, `timeout`, `connection`, `malformed` (transient); `context_too_long`,
    `unauthorized`, `not_found`, `bad_request`, `error` (permanent)."""
    reason: str
    """One line for the stop reason and the logs: `503 upstream overloaded`."""
    transient: bool
    retry_after_s: float | None = None
    counts: bool = True
    """Whether it says the model is unavailable (the breaker counts it); a bad request or a malformed
    answer does not: the provider answered."""


class MalformedReply(Exception):
    """The model answered, but not with what was asked (no call of the required tool, unparsable arguments)."""


class ModelsUnavailable(Exception):
    """Every model of a role's chain failed or was skipped; `str()` says which and why, for the stop reason."""

    def __init__(self, role: str, errors: Sequence[tuple[str, str]]) -> None:
        self.role = role
        self.errors = list(errors)
        specs = ", then ".join(spec for spec, _ in self.errors)
        if len(self.errors) == 1:
            why = self.errors[0][1]
        else:
            why = "; ".join(f"{spec}: {reason}" for spec, reason in self.errors)
        super().__init__(f"the {role} model ({specs}) failed: {why}")


def classify(exc: BaseException) -> Failure:
    """Transient (retried) or permanent (fails fast), with the provider's Retry-After when it gave one.
    Duck-typed on the stainless SDKs' shapes (`status_code`, `response`), so openai and anthropic agree."""
    if isinstance(exc, MalformedReply):
        return Failure("malformed", f"malformed answer: {exc}", transient=True, counts=False)
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        message = _provider_message(exc)
        reason = f"{status} {message}".strip()
        code = str(getattr(exc, "code", "") or "")
        if status in (400, 413, 422) and any(m in f"{code} {message}".lower() for m in _CONTEXT_TOO_LONG):
            return Failure("context_too_long", f"context too long: {reason}", transient=False, counts=False)
        if status in _TRANSIENT_STATUSES or status >= 500:
            kind = "rate_limited" if status == 429 else "server_error"
            return Failure(kind, reason, transient=True, retry_after_s=retry_after_s(_headers(exc)))
        if status in _BROKEN_STATUSES:
            return Failure("unauthorized" if status < 404 else "not_found", reason, transient=False)
        return Failure("bad_request", reason, transient=False, counts=False)
    names = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TimeoutError | httpx.TimeoutException) or "APITimeoutError" in names:
        return Failure("timeout", "timed out", transient=True)
    if isinstance(exc, ConnectionError | httpx.TransportError) or "APIConnectionError" in names:
        return Failure("connection", f"connection failed: {_first_line(exc) or type(exc).__name__}", transient=True)
    return Failure("error", f"{type(exc).__name__}: {_first_line(exc)}", transient=False, counts=False)


def retry_after_s(headers: Mapping[str, str] | None, now: Callable[[], float] = time.time) -> float | None:
    """The provider's requested wait: `retry-after-ms`, else `Retry-After` in seconds or as an HTTP date."""
    if not headers:
        return None
    lower = {k.lower(): v for k, v in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = lower.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            continue
        return max(0.0, seconds) if math.isfinite(seconds) else math.inf
    when = lower.get("retry-after")
    if when:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(when).timestamp() - now())
        except (TypeError, ValueError):
            return None
    return None


def backoff_s(retry: int, *, initial_s: float, cap_s: float, rng: Callable[[], float] = random.random) -> float:
    """The wait before retry number `retry` (1: the first): `initial_s` doubling per retry, capped at
    `cap_s`, with equal jitter (half fixed, half random) so replicas hit by the same outage spread out."""
    ceiling = min(cap_s, initial_s * 2 ** max(0, retry - 1))
    return ceiling / 2 + rng() * ceiling / 2


@dataclass(frozen=True)
class RetrySettings:
    """How one link retries: `attempts` in all (1: no retry); waits start at `backoff_s` and no wait is
    longer than `max_wait_s`. A Retry-After beyond `max_wait_s` ends the link's attempts (its fallback
    answers sooner than the provider would)."""

    attempts: int = 1
    backoff_s: float = 0.5
    max_wait_s: float = 10.0

    def delay(self, failure: Failure, retry: int, rng: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait before retry number `retry`, or None when the failure is not worth one."""
        if not failure.transient:
            return None
        wait = backoff_s(retry, initial_s=self.backoff_s, cap_s=self.max_wait_s, rng=rng)
        if failure.retry_after_s is not None:
            if failure.retry_after_s > self.max_wait_s:
                return None
            wait = max(wait, failure.retry_after_s)
        return wait


class ChainObserver(Protocol):
    """Told what the chains do, for metrics (handrail/metrics.py in the service)."""

    def retried(self, model: str, kind: str) -> None: ...

    def fell_back(self, role: str, model: str) -> None: ...

    def exhausted(self, role: str) -> None: ...


class _RetryAfterRetry(RunnableRetry[LanguageModelInput, BaseMessage]):  # type: ignore[no-redef]  # as upstream
    """`with_retry`, whose wait honours Retry-After and whose retries stop on a permanent failure or on a
    Retry-After longer than the settings allow. Overrides `_kwargs_retrying` (langchain-core 1.7), the one
    place RunnableRetry builds its tenacity arguments."""

    settings: RetrySettings = RetrySettings()
    model_spec: str = ""
    observer: Any = None

    @property
    def _kwargs_retrying(self) -> dict[str, Any]:
        return {
            "stop": stop_after_attempt(self.settings.attempts),
            "retry": self._should_retry,
            "wait": self._wait,
            "before_sleep": self._before_sleep,
        }

    def _delay(self, state: RetryCallState) -> float | None:
        exc = state.outcome.exception() if state.outcome is not None else None
        if exc is None or not isinstance(exc, Exception):
            return None
        return self.settings.delay(classify(exc), state.attempt_number)

    def _should_retry(self, state: RetryCallState) -> bool:
        return self._delay(state) is not None

    def _wait(self, state: RetryCallState) -> float:
        return self._delay(state) or 0.0

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        failure = classify(exc) if isinstance(exc, Exception) else Failure("error", "", transient=True)
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info(
            "model.retry",
            extra={
                "model": self.model_spec,
                "attempt": state.attempt_number,
                "wait_s": round(wait, 3),
                "kind": failure.kind,
                "reason": failure.reason,
            },
        )
        if self.observer is not None:
            self.observer.retried(self.model_spec, failure.kind)


@dataclass(frozen=True)
class ModelLink:
    """One model of a chain: its `provider:model` spec (the breaker's key) and the runnable that calls it
    (the chat model, or the chat model bound to tools)."""

    spec: str
    model: Runnable[LanguageModelInput, BaseMessage]


OFFLINE = "offline"  # the spec of the built-in model (llm/factory.py)
Check = Callable[[AIMessage], str | None]
"""Why a reply is malformed (it is then retried like a transient failure), or None when it is usable."""


@dataclass(frozen=True)
class ModelChain:
    """A role's models in order of preference. `ainvoke` tries each in turn: skipped while its breaker is
    open, retried on transient failures, one attempt when it is the half-open probe. The first answer
    wins; when none comes, `ModelsUnavailable` names every model and what went wrong."""

    role: str
    links: tuple[ModelLink, ...]
    retry: RetrySettings = RetrySettings()
    breakers: Breakers | None = None
    observer: ChainObserver | None = None
    check: Check | None = None
    # The retrying runnable of each (link, attempts), built on first use: building one (a pydantic model,
    # a RunnableLambda that inspects its function) cost more than the offline model's whole call.
    _built: dict[tuple[int, int], Runnable[LanguageModelInput, BaseMessage]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def of(cls, role: str, model: BaseChatModel, spec: str | None = None) -> ModelChain:
        """A bare chat model as a chain of one: no retries, no fallback, no breaker (tests, the bench)."""
        return cls(role, (ModelLink(spec or _spec_of(model), model),))

    @property
    def model_name(self) -> str:
        """The primary's model name: what budgets price a call at before it is made."""
        model = self.links[0].model
        bound = getattr(model, "bound", model)
        return str(getattr(bound, "model_name", None) or getattr(bound, "model", None) or "")

    @property
    def specs(self) -> list[str]:
        return [link.spec for link in self.links]

    def bind_tools(
        self, tools: Sequence[Any], *, tool_choice: str | None = None, check: Check | None = None
    ) -> ModelChain:
        """The same chain with every model offered `tools`; `check` says when a reply is malformed."""
        links = tuple(
            ModelLink(link.spec, _as_chat_model(link).bind_tools(tools, tool_choice=tool_choice)) for link in self.links
        )
        return ModelChain(self.role, links, self.retry, self.breakers, self.observer, check)

    async def ainvoke(self, prompt: LanguageModelInput) -> AIMessage:
        errors: list[tuple[str, str]] = []
        for index, link in enumerate(self.links):
            # The offline model runs in this process and is deterministic: a retry would give the same
            # answer, and no breaker is worth keeping for it. It is called once, with nothing around it.
            local = link.spec.lower() == OFFLINE
            breakers = None if local else self.breakers
            admission = await breakers.admit(link.spec) if breakers is not None else "closed"
            if admission == "open":
                errors.append((link.spec, "skipped: its circuit breaker is open after repeated failures"))
                continue
            attempts = 1 if admission == "probe" or local else self.retry.attempts
            try:
                runnable = self._built.get((index, attempts))
                if runnable is None:
                    runnable = self._built[(index, attempts)] = self._runnable(link, attempts)
                reply = await runnable.ainvoke(prompt)
            except Exception as exc:  # every failure moves on to the next model; cancellation passes
                failure = classify(exc)
                if breakers is not None:
                    await breakers.record(link.spec, ok=not failure.counts, reason=failure.reason)
                logger.warning(
                    "model.failed",
                    extra={
                        "role": self.role,
                        "model": link.spec,
                        "kind": failure.kind,
                        "reason": failure.reason,
                        "transient": failure.transient,
                    },
                )
                errors.append((link.spec, failure.reason))
                continue
            if breakers is not None:
                await breakers.record(link.spec, ok=True)
            if errors:
                logger.warning("model.fell_back", extra={"role": self.role, "model": link.spec, "skipped": errors})
                if self.observer is not None:
                    self.observer.fell_back(self.role, link.spec)
            assert isinstance(reply, AIMessage)
            return reply
        logger.error("model.chain_failed", extra={"role": self.role, "errors": errors})
        if self.observer is not None:
            self.observer.exhausted(self.role)
        raise ModelsUnavailable(self.role, errors)

    def _runnable(self, link: ModelLink, attempts: int) -> Runnable[LanguageModelInput, BaseMessage]:
        model: Runnable[LanguageModelInput, BaseMessage] = link.model
        if self.check is not None:
            model = model | RunnableLambda(_checked(self.check))
        if attempts <= 1:
            return model
        return _RetryAfterRetry(
            bound=model,
            max_attempt_number=attempts,
            settings=RetrySettings(attempts, self.retry.backoff_s, self.retry.max_wait_s),
            model_spec=link.spec,
            observer=self.observer,
        ).with_config(run_name=f"{self.role}:{link.spec}")


def _checked(check: Check) -> Callable[[BaseMessage], BaseMessage]:
    def checked(reply: BaseMessage) -> BaseMessage:
        problem = check(reply) if isinstance(reply, AIMessage) else "the reply is not an AI message"
        if problem is not None:
            raise MalformedReply(problem)
        return reply

    return checked


def _as_chat_model(link: ModelLink) -> BaseChatModel:
    if not isinstance(link.model, BaseChatModel):
        raise TypeError(f"{link.spec}: tools can only be bound to a chat model, not {type(link.model).__name__}")
    return link.model


def _spec_of(model: BaseChatModel) -> str:
    name = getattr(model, "model_name", None) or getattr(model, "model", None)
    return f"{model._llm_type}:{name}" if name else model._llm_type


def _headers(exc: BaseException) -> Mapping[str, str] | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    return headers if isinstance(headers, Mapping) or hasattr(headers, "get") else None


def _provider_message(exc: BaseException) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return _first_line(inner["message"])
    return _first_line(getattr(exc, "message", None) or exc)


def _first_line(value: object) -> str:
    text = str(value).strip()
    return text.splitlines()[0][:300] if text else ""
