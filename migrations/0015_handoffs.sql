-- Why: issue 21's handoff. A conversation handed to a person needs a record that outlives graph state and that
-- clients cannot write: who it is for, why and how urgent, the context packet the person reads first, the
-- conversation as it was, every reply the person sent (the `human` node shows only what is recorded here), and
-- whether it was resolved or returned to the agent and by whom. Notified as signed, durable webhooks like
-- approvals (notified_at, notify_attempted_at), so webhook_deliveries takes the kind 'handoff'.
CREATE TABLE IF NOT EXISTS handoffs (
    handoff_id    TEXT PRIMARY KEY,
    thread_id     UUID NOT NULL REFERENCES threads (thread_id) ON DELETE CASCADE,
    run_id        UUID,
    user_id       TEXT NOT NULL,
    interrupt_id  TEXT NOT NULL,
    signal        TEXT NOT NULL,
    reason        TEXT NOT NULL,
    priority      TEXT NOT NULL,
    packet        JSONB NOT NULL,
    conversation  JSONB NOT NULL,
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved', 'returned')),
    closed_by     TEXT,
    closing_message TEXT,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    first_reply_at TIMESTAMPTZ,
    closed_at     TIMESTAMPTZ,
    notified_at   TIMESTAMPTZ,
    notify_attempted_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS handoffs_open_idx ON handoffs (user_id, created_at) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS handoffs_thread_idx ON handoffs (thread_id, created_at);

CREATE TABLE IF NOT EXISTS handoff_replies (
    reply_id    TEXT PRIMARY KEY,
    handoff_id  TEXT NOT NULL REFERENCES handoffs (handoff_id) ON DELETE CASCADE,
    author      TEXT NOT NULL,
    message     TEXT NOT NULL,
    run_id      UUID,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS handoff_replies_handoff_idx ON handoff_replies (handoff_id, created_at);

ALTER TABLE webhook_deliveries DROP CONSTRAINT IF EXISTS webhook_deliveries_kind_check;
ALTER TABLE webhook_deliveries ADD CONSTRAINT webhook_deliveries_kind_check
    CHECK (kind IN ('approval', 'run', 'handoff'));
