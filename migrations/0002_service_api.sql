-- Why: the service API keeps its own records beside LangGraph's checkpoints, so that threads,
-- runs and approvals survive restarts and are visible to every replica, and every record has an
-- owner (user_id) for isolation. Runs double as the durable work queue (claimed with
-- FOR UPDATE SKIP LOCKED, kept alive by heartbeats); run_events keeps every streamed event so a
-- join or a reconnect from any replica sees the whole stream.

CREATE TABLE IF NOT EXISTS assistants (
    assistant_id UUID PRIMARY KEY,
    graph_id     TEXT NOT NULL,
    user_id      TEXT,                        -- NULL: a system assistant, visible to everyone
    name         TEXT NOT NULL,
    description  TEXT,
    config       JSONB NOT NULL DEFAULT '{}',
    context      JSONB NOT NULL DEFAULT '{}',
    metadata     JSONB NOT NULL DEFAULT '{}',
    version      INT NOT NULL DEFAULT 1,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS threads (
    thread_id        UUID PRIMARY KEY,
    user_id          TEXT NOT NULL,
    metadata         JSONB NOT NULL DEFAULT '{}',
    config           JSONB NOT NULL DEFAULT '{}',
    status           TEXT NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'busy', 'interrupted', 'error')),
    "values"         JSONB,
    interrupts       JSONB,
    error            JSONB,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    state_updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS threads_user_idx ON threads (user_id, created_at DESC);
CREATE INDEX IF NOT EXISTS threads_metadata_idx ON threads USING GIN (metadata);

CREATE TABLE IF NOT EXISTS runs (
    run_id             UUID PRIMARY KEY,
    thread_id          UUID NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    assistant_id       UUID NOT NULL,
    user_id            TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'running', 'success', 'error', 'timeout', 'interrupted')),
    metadata           JSONB NOT NULL DEFAULT '{}',
    kwargs             JSONB NOT NULL DEFAULT '{}',
    multitask_strategy TEXT NOT NULL DEFAULT 'enqueue',
    webhook            TEXT,
    temporary          BOOLEAN NOT NULL DEFAULT false,   -- stateless run: delete its thread when done
    available_at       TIMESTAMPTZ NOT NULL DEFAULT now(), -- after_seconds
    attempt            INT NOT NULL DEFAULT 0,
    worker_id          TEXT,
    heartbeat_at       TIMESTAMPTZ,
    cancel_action      TEXT CHECK (cancel_action IN ('interrupt', 'rollback')),
    error              JSONB,
    started_at         TIMESTAMPTZ,
    ended_at           TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS runs_thread_idx ON runs (thread_id, created_at DESC);
CREATE INDEX IF NOT EXISTS runs_queue_idx ON runs (created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS runs_running_idx ON runs (heartbeat_at) WHERE status = 'running';
-- One run at a time per thread, enforced by the database whatever the workers do.
CREATE UNIQUE INDEX IF NOT EXISTS runs_one_running_per_thread ON runs (thread_id) WHERE status = 'running';

CREATE TABLE IF NOT EXISTS run_events (
    run_id     UUID NOT NULL REFERENCES runs (run_id) ON DELETE CASCADE,
    seq        INT NOT NULL,
    event      TEXT NOT NULL,
    data       JSONB,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE IF NOT EXISTS approvals (
    approval_id  TEXT PRIMARY KEY,
    thread_id    UUID NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    run_id       UUID,
    user_id      TEXT NOT NULL,
    interrupt_id TEXT NOT NULL,
    tool         TEXT NOT NULL,
    args         JSONB NOT NULL,
    preview      TEXT NOT NULL,
    risk         TEXT NOT NULL,
    purpose      TEXT,
    requested_by TEXT NOT NULL,
    status       TEXT NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'edited', 'rejected', 'expired')),
    decision     JSONB,
    decided_by   TEXT,
    reason       TEXT,
    resume_run_id UUID,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ NOT NULL,
    decided_at   TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS approvals_pending_idx ON approvals (user_id, created_at) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS approvals_expiry_idx ON approvals (expires_at) WHERE status = 'pending';

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('approval', 'run')),
    subject_id  TEXT NOT NULL,                 -- approval_id or run_id
    url         TEXT NOT NULL,
    attempt     INT NOT NULL,
    status_code INT,
    error       TEXT,
    delivered   BOOLEAN NOT NULL DEFAULT false,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_subject_idx ON webhook_deliveries (kind, subject_id);

CREATE TABLE IF NOT EXISTS api_keys (
    key_hash   TEXT PRIMARY KEY,              -- sha256 of the key; the key itself is never stored
    user_id    TEXT NOT NULL,
    is_admin   BOOLEAN NOT NULL DEFAULT false,
    label      TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    revoked_at TIMESTAMPTZ
);
