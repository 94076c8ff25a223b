-- Why: a long thread's storage grew with the square of its turns (issue 12). Two causes, two fixes:
-- 1. A `values` event is the whole thread state. A run's later `values` events are now stored as the
--    change since the event at base_seq (NULL: stored whole); handrail/runs/events.py reads them back.
-- 2. Nothing was ever pruned. handrail/prune.py drops superseded checkpoints of idle threads
--    (pruned_at: when a thread was last pruned) and the event logs of runs finished longer ago than
--    RUN_EVENTS_RETENTION_S (events_pruned_at: done for that run).
ALTER TABLE run_events ADD COLUMN IF NOT EXISTS base_seq INT;
ALTER TABLE threads ADD COLUMN IF NOT EXISTS pruned_at TIMESTAMPTZ;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS events_pruned_at TIMESTAMPTZ;
CREATE INDEX IF NOT EXISTS runs_events_to_prune_idx ON runs (ended_at)
    WHERE events_pruned_at IS NULL AND status NOT IN ('pending', 'running');
-- A run's first `values` event, once a newer run on the thread has one, is kept as the change back from
-- that newer event (base_run, base_seq): only the newest run of a thread holds the whole state.
ALTER TABLE run_events ADD COLUMN IF NOT EXISTS base_run UUID;
CREATE INDEX IF NOT EXISTS run_events_base_run_idx ON run_events (base_run) WHERE base_run IS NOT NULL;
