-- Why: an operator asked "what did this run do, and what did it cost?" had only the event log and the
-- checkpoints to read (issue 13). Each finished run now keeps a summary: outcome, models, tokens, cost,
-- agent and wall time, and one entry per model call and tool call (handrail/runs/summary.py). Written
-- by the statement that finishes the run; NULL for runs that finished before this migration.
ALTER TABLE runs ADD COLUMN IF NOT EXISTS summary JSONB;
