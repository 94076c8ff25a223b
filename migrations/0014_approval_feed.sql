-- Why: GET /approvals/stream (the approval console's live inbox) re-reads, every couple of seconds per open
-- stream, the approvals that changed (were created or decided) since its last read. An approval's last change is
-- coalesce(decided_at, created_at) (a decision is never older than the request); indexed, that read touches only
-- the recent rows instead of scanning every approval ever recorded.

CREATE INDEX IF NOT EXISTS approvals_changed_idx ON approvals ((coalesce(decided_at, created_at)));
