-- Why: an operator asked "who let this email go out, and what exactly did it say?" had to piece it together
-- from approvals, run summaries and logs that are pruned, redacted differently or deleted with their thread.
-- `audit_log` is one append-only record of every tool call, approval request and decision (with the call
-- digest the gate checks), guardrail block, budget stop, rate or spend refusal and kill-switch change.
-- It has no foreign keys on purpose: deleting or pruning a thread must leave its audit trail whole. Rows
-- are never changed: triggers refuse UPDATE, DELETE and TRUNCATE for every role that does not first drop
-- or disable them (a guard against bugs and careless scripts; against a hostile superuser, grant the
-- application role only INSERT and SELECT).
--
-- `tool_switches` is the per-tool kill switch an operator flips through PUT /admin/tools/{tool}; every
-- process re-reads it every TOOL_SWITCH_REFRESH_S (handrail/tool_switches.py). A tool with no row is on.
CREATE TABLE IF NOT EXISTS audit_log (
    id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    actor TEXT,
    kind TEXT NOT NULL,
    thread_id UUID,
    run_id UUID,
    tool TEXT,
    args JSONB,
    digest TEXT,
    outcome TEXT,
    detail JSONB
);

-- GET /audit pages by id (keyset) under any one of these filters; `since` alone reads the `at` index.
CREATE INDEX IF NOT EXISTS audit_log_thread_idx ON audit_log (thread_id, id) WHERE thread_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_log_run_idx ON audit_log (run_id, id) WHERE run_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS audit_log_kind_idx ON audit_log (kind, id);
CREATE INDEX IF NOT EXISTS audit_log_at_idx ON audit_log (at);

CREATE OR REPLACE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'audit rows are evidence and are never changed or removed; record a new event instead';
END
$$;

DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

CREATE TABLE IF NOT EXISTS tool_switches (
    tool TEXT PRIMARY KEY,
    enabled BOOLEAN NOT NULL,
    reason TEXT,
    changed_by TEXT,
    changed_at TIMESTAMPTZ
);
