-- Why: an approval's webhook was sent by an in-memory task, so a notification in flight at shutdown,
-- or one whose receiver stayed down through every retry, was lost while the approval waited unseen.
-- These columns let any worker find approvals whose notification never arrived and send it again.
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS notify_attempted_at TIMESTAMPTZ;
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS notified_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS approvals_unnotified_idx ON approvals (notify_attempted_at)
    WHERE status = 'pending' AND notified_at IS NULL;
