"""The one settings object, read from the environment (and a `.env` file) once, at start-up."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    redis_url: SecretStr | None = Field(
        None, description="Redis URL for stream fan-out. Unset: Postgres LISTEN/NOTIFY is used."
    )

    # --- HTTP ----------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address the server binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port the server binds to.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level.")

    # --- models --------------------------------------------------------------------------
    planner_model: str = Field("offline", description="Model that writes the plan (`provider:model`).")
    executor_model: str = Field("offline", description="Model that fills a step's arguments from results.")
    synth_model: str = Field("offline", description="Model that writes the final answer.")
    model_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible endpoint.")
    model_api_key: SecretStr | None = Field(None, description="API key for the provider models.")
    model_timeout_s: float = Field(60.0, gt=0, description="Timeout of one model call, in seconds.")
    model_max_retries: int = Field(2, ge=0, description="Provider client retries on 429/5xx/timeouts.")

    # --- run limits ----------------------------------------------------------------------
    max_steps: int = Field(8, ge=1, description="Most tool steps one run may execute.")
    max_replans: int = Field(2, ge=0, description="Most re-plans one run may make.")
    tool_timeout_s: float = Field(10.0, gt=0, description="Ceiling on one tool call, in seconds.")
    run_timeout_s: float = Field(300.0, gt=0, description="Agent wall time per run (approval waits excluded).")

    # --- email delivery ------------------------------------------------------------------
    smtp_host: str | None = Field(None, description="SMTP server. Unset: emails stay in the outbox table.")
    smtp_port: int = Field(587, description="SMTP port.")
    smtp_username: str | None = Field(None, description="SMTP user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP password.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS with the SMTP server.")
    smtp_from: str = Field("handrail@localhost", description="Sender address of outgoing email.")

    def database_dsn(self) -> str | None:
        return self.database_url.get_secret_value() if self.database_url else None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Read the environment once; called from the lifespan and the CLI, never at import."""
    return Settings()
