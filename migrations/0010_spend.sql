-- Why: per-run budgets stop one runaway run, not a user who starts a thousand, nor a fleet whose model bill
-- runs away in an hour. These tables are the record of what was spent, per user per UTC day and for the
-- whole service per UTC hour, so USER_DAILY_BUDGET_USD and GLOBAL_HOURLY_BUDGET_USD hold across replicas and
-- restarts (handrail/spend.py; Redis caches the counters, these rows are the truth it is re-seeded from).
-- An operator's reset of the hourly breaker (POST /admin/spend/reset) sets reset_usd = usd, so the effective
-- total (usd - reset_usd) restarts at 0 while the hour's real spend and who reset it stay on record.
CREATE TABLE IF NOT EXISTS spend_daily (
    user_id TEXT NOT NULL,
    day DATE NOT NULL,
    usd NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
);

CREATE TABLE IF NOT EXISTS spend_hourly (
    hour TIMESTAMPTZ PRIMARY KEY,
    usd NUMERIC NOT NULL DEFAULT 0,
    reset_usd NUMERIC NOT NULL DEFAULT 0,
    reset_by TEXT,
    reset_at TIMESTAMPTZ
);
