"""The one settings object, read from the environment (and a `.env` file) once, at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from guardrails.escalation import DEFAULT_GUARDRAILS, DEFAULT_SIGNALS, SIGNALS


class Settings(BaseSettings):
    """Every knob Handrail has. The README's configuration table lists the same fields."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    # --- storage -------------------------------------------------------------------------
    database_url: SecretStr | None = Field(
        None, description="Postgres DSN. Unset: an embedded Postgres is started in DATA_DIR."
    )
    data_dir: Path = Field(Path(".handrail"), description="Where the embedded Postgres keeps its data.")
    pool_min_size: int = Field(1, ge=0, description="Postgres pool: connections kept open.")
    pool_max_size: int = Field(10, ge=1, description="Postgres pool: most connections at once.")
    prepared_statements: bool = Field(
        True, description="Prepare repeated statements on each connection (false behind pgbouncer < 1.21)."
    )
    redis_url: SecretStr | None = Field(
        None, description="Redis URL for stream fan-out. Unset: Postgres LISTEN/NOTIFY is used."
    )
    redis_prefix: str = Field("handrail:", description="Prefix of every Redis key and channel.")

    # --- HTTP ----------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server binds to.")
    processes: int = Field(
        0, ge=0, description="Server processes sharing PORT, each with its own event loop (0: one per CPU core)."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    # --- models --------------------------------------------------------------------------
    planner_model: str = Field("offline", description="Model that writes the plan (`provider:model`).")
    executor_model: str = Field("offline", description="Model that fills a step's arguments from results.")
    synth_model: str = Field("offline", description="Model that writes the final answer.")
    model_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible endpoint.")
    model_api_key: SecretStr | None = Field(None, description="API key for the provider models.")
    model_timeout_s: float = Field(60.0, gt=0, description="Timeout of one model call, in seconds.")
    model_max_retries: int = Field(
        3,
        ge=0,
        description="Retries of one model call on 429/5xx/timeouts/malformed tool calls, by Handrail (backoff, "
        "Retry-After); the provider client's own retries are off.",
    )

    # --- run limits ----------------------------------------------------------------------
    max_steps: int = Field(8, ge=1, description="Most tool steps one run may execute.")
    max_replans: int = Field(2, ge=0, description="Most re-plans one run may make.")
    tool_timeout_s: float = Field(10.0, gt=0, description="Ceiling on one tool call, in seconds.")
    run_timeout_s: float = Field(300.0, gt=0, description="Agent wall time per run (approval waits excluded).")
    run_max_tokens: int = Field(
        200_000, ge=1, description="Most model tokens one run may use; checked before every model call."
    )
    run_max_cost_usd: float = Field(
        1.0, ge=0, description="Most USD one run's model calls may cost (MODEL_PRICES); checked before every call."
    )
    tools_enabled: list[str] = Field(
        default_factory=list,
        description="The tools runs may call, as a JSON list (empty: every registered tool). Assistants and "
        "runs narrow it with `context.tools_enabled`.",
    )
    max_parallel_steps: int = Field(
        4,
        ge=1,
        description="Independent read-only plan steps (no approval, no {{step:N}} reference) run at the "
        "same time, at most; 1 runs every step in turn. Assistants and runs may lower it with "
        "`context.max_parallel_steps`.",
    )
    context_max_turns: int = Field(
        8,
        ge=1,
        description="Turns of a conversation the models are sent verbatim; older turns reach them as a "
        "running summary. Assistants and runs may lower it with `context.context_max_turns`.",
    )
    context_max_tokens: int = Field(
        4_000,
        ge=200,
        description="Most tokens of conversation (summary and recent turns) sent to a model; the "
        "latest request is always sent. Lowered per assistant or run with `context.context_max_tokens`.",
    )
    context_tokenizer: Literal["estimate", "model"] = Field(
        "estimate",
        description="How the context window counts tokens: `estimate` (about 4 characters a token) "
        "or `model` (the provider's tokenizer; OpenAI's downloads its vocabulary on first use).",
    )
    state_max_messages: int = Field(
        0,
        ge=0,
        description="Messages a thread's state keeps at most: older ones, once summarized, leave "
        "`values.messages` (they stay in the thread's history until pruned). 0 keeps every message.",
    )
    max_tool_output_chars: int = Field(
        20_000, ge=100, description="Largest tool result (as JSON) a model is shown; longer ones are cut."
    )

    # --- email delivery ------------------------------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP server. Unset: emails stay in the outbox table.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS with the SMTP server.")
    smtp_from: str = Field("handrail@localhost", description="Sender address of outgoing email.")

    # --- tools ---------------------------------------------------------------------------
    tool_modules: list[str] = Field(
        default_factory=list, description="Extra modules whose `@tool` functions are added (JSON list)."
    )

    # --- auth ----------------------------------------------------------------------------
    api_keys: SecretStr | None = Field(
        None, description="`key:user_id` pairs, comma-separated. None set (and no api_keys rows): dev mode."
    )
    admin_api_keys: SecretStr | None = Field(None, description="`key:user_id` pairs that may see every user's data.")
    allow_unauthenticated: bool = Field(
        False, description="Allow dev mode (no keys) on a non-loopback HOST. Never in production."
    )
    cors_origins: list[str] = Field(
        default_factory=lambda: ["https://smith.langchain.com"], description="Browser origins allowed (Studio)."
    )

    # --- request limits (checked before any work is done) -------------------------------
    max_body_bytes: int = Field(1_048_576, ge=1, description="Largest request body, in bytes (413 beyond).")
    max_json_depth: int = Field(
        32, ge=1, description="Deepest nesting of arrays and objects in a JSON body (422 beyond)."
    )
    max_message_chars: int = Field(
        32_000,
        ge=1,
        description="Most text characters in one message of a run's input, command.update or state update.",
    )
    max_input_messages: int = Field(
        100, ge=1, description="Most messages in one request (run input plus command.update)."
    )
    max_batch_runs: int = Field(100, ge=1, description="Most runs in one POST /runs/batch.")

    # --- runs and workers ----------------------------------------------------------------
    workers: int = Field(4, ge=0, description="Runs executed at once by the API process (0: separate workers only).")
    worker_poll_s: float = Field(1.0, gt=0, description="Queue poll interval when no notification arrives.")
    heartbeat_s: float = Field(2.0, gt=0, description="How often a worker proves it is alive.")
    run_lease_s: float = Field(15.0, gt=0, description="A run whose heartbeat is older is taken over.")
    run_max_attempts: int = Field(3, ge=1, description="Attempts before a run whose workers keep dying fails.")
    background_run_timeout_s: float = Field(3600.0, gt=0, description="Hard ceiling on one run; status `timeout`.")
    shutdown_grace_s: float = Field(
        10.0, gt=0, description="On SIGTERM: how long open requests, then in-flight runs, get to finish."
    )
    stateless_thread_ttl_s: float = Field(
        60.0, ge=0, description="Stateless runs' threads are deleted this long after the run ends."
    )
    checkpoints_keep: int = Field(
        20,
        ge=1,
        description="Checkpoints kept per thread once its runs finish (plus fork points); older ones are pruned.",
    )
    cron_poll_s: float = Field(5.0, gt=0, description="How often each process looks for due crons, in seconds.")
    run_events_retention_s: float = Field(
        86400.0, ge=0, description="A finished run's stream events are kept this long for replay, then pruned."
    )
    prune_interval_s: float = Field(60.0, gt=0, description="How often the background pruner looks for work.")
    prune_batch: int = Field(200, ge=1, description="Most threads or runs one pruning statement touches.")
    model_prices: dict[str, tuple[float, float]] = Field(
        default_factory=dict,
        description="USD per million tokens [input, output] by model-name prefix, over the built-in table "
        '(llm/usage.py), as JSON: {"my-model": [1.0, 2.0]}. Costs in run summaries, metrics and budgets.',
    )
    default_durability: Literal["sync", "async", "exit"] = Field(
        "sync",
        description="Checkpoint durability of runs that do not ask: sync commits each step before the next "
        "starts (no finished step is lost); async while the next runs (a crash can repeat the last step).",
    )

    # --- tracing (Langfuse) ----------------------------------------------------------------
    langfuse_public_key: str | None = Field(
        None, description="Langfuse public key. Unset (or no secret key): no tracing."
    )
    langfuse_secret_key: SecretStr | None = Field(None, description="Langfuse secret key.")
    langfuse_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices("langfuse_base_url", "langfuse_host"),
        description="Langfuse host (LANGFUSE_HOST is read too). Unset: Langfuse Cloud.",
    )

    # --- handoff to a person -------------------------------------------------------------
    handoff_signals: dict[str, Literal["low", "normal", "high", "urgent"]] = Field(
        default_factory=lambda: dict(DEFAULT_SIGNALS),
        description="The signals that hand a conversation to a person, each with its priority, as JSON; a signal "
        "left out is off. Signals: asked_for_human, negative_sentiment, low_confidence, high_stakes, "
        "consecutive_failures, guardrail.",
    )
    handoff_sentiment_threshold: float = Field(
        -0.65, ge=-1, le=1, description="negative_sentiment fires at or under this VADER compound score (-1 to 1)."
    )
    handoff_sentiment_model: str | None = Field(
        None,
        description="Model that scores a user's message for negative_sentiment (`provider:model`). Unset: VADER, "
        "offline; also used whenever the model fails or the budget is spent.",
    )
    handoff_min_confidence: float = Field(
        0.5, ge=0, le=1, description="low_confidence fires when the planner reports a confidence under this."
    )
    handoff_failure_streak: int = Field(
        3, ge=1, description="consecutive_failures fires after this many failed steps in a row."
    )
    handoff_high_stakes_tools: list[str] = Field(
        default_factory=list,
        description="Tools a person must handle (JSON list): a plan naming one is handed over, not executed.",
    )
    handoff_guardrails: list[str] = Field(
        default_factory=lambda: list(DEFAULT_GUARDRAILS),
        description="Guardrails (`layer.rule` prefixes) whose firing is the guardrail signal, as a JSON list.",
    )
    handoff_team: str = Field(
        "a member of our support team", description="Who picks a handoff up, as the user is told."
    )
    handoff_webhook_url: str | None = Field(
        None, description="Where `handoff.requested` is POSTed (signed). Unset: APPROVAL_WEBHOOK_URL."
    )

    # --- approvals and webhooks ----------------------------------------------------------
    approval_ttl_s: float = Field(86400.0, gt=0, description="Pending approvals expire (as reject) after this.")
    max_feedback_chars: int = Field(5000, ge=1, description="Longest reviewer feedback a decision may carry.")
    approval_webhook_url: str | None = Field(None, description="Where approval requests are POSTed.")
    webhook_secret: SecretStr | None = Field(None, description="HMAC-SHA256 key signing every webhook.")
    webhook_max_attempts: int = Field(5, ge=1, description="Delivery attempts per webhook.")
    webhook_backoff_s: float = Field(1.0, gt=0, description="First retry delay; doubles per attempt.")
    webhook_timeout_s: float = Field(10.0, gt=0, description="Timeout of one webhook delivery.")
    webhook_allow_private: bool = Field(
        False, description="Allow run webhooks to loopback/private addresses (SSRF guard off)."
    )

    # --- guardrails: tool policy -------------------------------------------------------
    tool_switch_refresh_s: float = Field(
        2.0, gt=0, description="How often each process re-reads the per-tool kill switches, in seconds."
    )

    # --- budgets and rate limits ----------------------------------------------------------
    rate_limit_per_minute: int = Field(
        0,
        ge=0,
        description="Requests one user may make in any 60 s (sliding window; 429 beyond). 0: off, because the "
        "bench drives one user at ~150 requests/s; 600 suits interactive clients. Shared through Redis when "
        "REDIS_URL is set, else counted per process.",
    )
    user_daily_budget_usd: float = Field(
        0.0,
        ge=0,
        description="Model spend one user may reach per UTC day before new runs are refused (429). 0: no limit, "
        "since only the operator knows their prices and traffic.",
    )
    global_hourly_budget_usd: float = Field(
        0.0,
        ge=0,
        description="Model spend of the whole service per UTC hour before new runs are refused for everyone "
        "(503; an admin resets it with POST /admin/spend/reset). 0: no breaker.",
    )

    # --- tools: retries, breakers, cache --------------------------------------------------
    tool_max_attempts: int = Field(
        2,
        ge=1,
        description="Attempts per call of an idempotent tool after timeouts, crashes or results marked retryable, "
        "within TOOL_TIMEOUT_S in all (1: no retry). Other tools are called once.",
    )
    tool_retry_backoff_s: float = Field(
        0.2,
        ge=0,
        description="Pause before the first retry of a tool call; doubles each retry (jittered, at most 2 s).",
    )
    tool_breaker_failures: int = Field(
        5,
        ge=0,
        description="Calls of a tool failing in a row (timeouts, crashes, after retries) that open its breaker "
        "in this process. 0: no breakers.",
    )
    tool_breaker_reset_s: float = Field(
        30.0, gt=0, description="How long an open tool breaker refuses calls before one trial call is let through."
    )
    tool_cache_enabled: bool = Field(
        True,
        description="Serve read tools' results again within their `cache_ttl_s`, from Redis (REDIS_URL). "
        "Without Redis, nothing is cached.",
    )

    # --- degradation and timeouts ----------------------------------------------------------
    redis_probe_s: float = Field(
        1.0,
        gt=0,
        description="How often the bus pings Redis: an outage moves wake-ups to Postgres LISTEN/NOTIFY, and the "
        "first answer after it moves them back.",
    )
    node_timeout_s: float = Field(
        300.0,
        gt=0,
        description="Ceiling on one attempt of one graph node (plan, execute…); the run then fails with "
        "NodeTimeoutError. Above MODEL_TIMEOUT_S and TOOL_TIMEOUT_S, which bound each call inside a node.",
    )
    wait_timeout_s: float = Field(
        300.0,
        gt=0,
        description="A /wait or /join still waiting after this long answers 200 with the thread's current values "
        'and "__run__": {run_id, status: running}; the run goes on in the background.',
    )

    # --- models: retries, fallbacks, breakers ---
    planner_fallback_models: list[str] = Field(
        default_factory=list,
        description="Models tried in order when PLANNER_MODEL fails after its retries or its breaker is open, "
        'as a JSON list of `provider:model` (`offline` is a fine last resort): ["anthropic:claude-sonnet-4-5", '
        '"offline"].',
    )
    executor_fallback_models: list[str] = Field(
        default_factory=list, description="Models tried in order when EXECUTOR_MODEL fails (JSON list)."
    )
    synth_fallback_models: list[str] = Field(
        default_factory=list,
        description="Models tried in order when SYNTH_MODEL fails (JSON list); after them, a rule-written answer.",
    )
    model_retry_backoff_s: float = Field(
        0.5,
        gt=0,
        description="Wait before the first retry of a model call; doubles each retry (jittered), or the "
        "provider's Retry-After when longer.",
    )
    model_retry_max_wait_s: float = Field(
        10.0,
        gt=0,
        description="Longest wait between two attempts of a model call. A Retry-After beyond it is not waited "
        "for: the next model in the chain is asked instead.",
    )
    breaker_failures: int = Field(
        5, ge=1, description="Failed calls in a row (after retries) that open a model's circuit breaker."
    )
    breaker_reset_s: float = Field(
        30.0,
        gt=0,
        description="How long an open model breaker sends calls straight to the fallback before one probe call "
        "is let through (success closes it).",
    )
    breaker_refresh_s: float = Field(
        1.0,
        ge=0,
        description="How often each process re-reads the shared breaker state (Redis, else Postgres); "
        "0: on every call.",
    )

    @field_validator("handoff_signals")
    @classmethod
    def _known_signals(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(SIGNALS))
        if unknown:
            raise ValueError(f"HANDOFF_SIGNALS names unknown signals {unknown}; known: {', '.join(SIGNALS)}")
        return value

    def database_dsn(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; called from the lifespan and the CLI, never at import."""
    return Settings()
