-- Why: a worker that dies (SIGKILL, OOM, a lost machine) left its runs `running` until their lease ran
-- out (RUN_LEASE_S), so a restarted server sat idle before taking them over. Each worker now holds a
-- session-level advisory lock for as long as its process lives; Postgres drops the lock with the dead
-- connection, so the reaper can tell at once that a worker is gone. Workers register here so that only
-- runs of lock-holding workers are judged by their lock (older workers keep the lease rule).
CREATE TABLE IF NOT EXISTS workers (
    worker_id  TEXT PRIMARY KEY,
    lock_key   INT NOT NULL,          -- second key of pg_advisory_lock(namespace, lock_key)
    started_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
