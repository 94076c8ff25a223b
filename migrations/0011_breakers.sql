-- Why: a model's circuit breaker (llm/breaker.py) must be the same on every replica, or each replica keeps
-- sending calls to a provider the others already found down. Redis holds the state when REDIS_URL is set;
-- this table holds it when Redis is unset or unreachable (handrail/breakers.py). One row per `provider:model`
-- that has failed since it last succeeded: consecutive failures, when the breaker opened (NULL: closed), and
-- until when a half-open probe call is out. A success deletes the row.
CREATE TABLE IF NOT EXISTS model_breakers (
    model TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    opened_at TIMESTAMPTZ,
    probe_until TIMESTAMPTZ,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
