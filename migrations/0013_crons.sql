-- Why: crons (LangGraph Server's /runs/crons API) are schedules that create runs. They live in Postgres so
-- every replica's scheduler sees them and claims a due one with FOR UPDATE SKIP LOCKED: a firing happens
-- once however many replicas poll. A thread's crons go with the thread (ON DELETE CASCADE).

CREATE TABLE IF NOT EXISTS crons (
    cron_id          UUID PRIMARY KEY,
    assistant_id     UUID NOT NULL,
    thread_id        UUID REFERENCES threads (thread_id) ON DELETE CASCADE,  -- NULL: stateless
    user_id          TEXT NOT NULL,
    schedule         TEXT NOT NULL,
    timezone         TEXT NOT NULL DEFAULT 'UTC',
    end_time         TIMESTAMPTZ,
    payload          JSONB NOT NULL DEFAULT '{}',
    metadata         JSONB NOT NULL DEFAULT '{}',
    on_run_completed TEXT CHECK (on_run_completed IN ('delete', 'keep')),
    enabled          BOOLEAN NOT NULL DEFAULT true,
    next_run_date    TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS crons_due_idx ON crons (next_run_date) WHERE enabled;
CREATE INDEX IF NOT EXISTS crons_user_idx ON crons (user_id, created_at DESC);
