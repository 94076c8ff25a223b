-- Why: a run's `webhook` was sent by an in-memory task, so one in flight at shutdown (or whose
-- receiver stayed down through every retry) was lost. Recording the attempt and the delivery lets
-- any worker send it again; the payload is rebuilt from the run row and its end marker.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS webhook_attempted_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS webhook_sent_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS runs_webhook_unsent_idx ON runs (webhook_attempted_at)
    WHERE webhook IS NOT NULL AND webhook_sent_at IS NULL;
