"""Pruning what nothing needs: superseded checkpoints of idle threads, and old runs' event logs.

LangGraph's Postgres saver keeps every checkpoint forever, and each one holds the whole message
history, so a long thread's storage grew with the square of its turns (issue 12). A thread with no
run in flight keeps its latest CHECKPOINTS_KEEP checkpoints per namespace, every fork point (a
checkpoint with more than one child) with the first checkpoint of each of its branches, and every
branch tip (one with no child: the head, where an unresolved interrupt lives, and the tip of any
fork). Blobs go with the last checkpoint that used them. A finished run's stream events are kept
RUN_EVENTS_RETENTION_S for replay; after that only its end marker stays, without the output (a late
`join` then answers `null`).

Each pass is one statement per thread or per batch of runs: the worker prunes a thread right after
its run ends (off the client's path), and a periodic pass catches what that missed.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from handrail.db import Pool
from handrail.settings import Settings

logger = logging.getLogger("handrail.prune")

# One statement, so that it sees one snapshot: the checkpoints to drop are computed, dropped with their
# writes, and the blobs only they referenced follow. A run that starts meanwhile only adds checkpoints
# newer than the kept head and blob versions newer than any dropped one, so nothing it needs is touched.
_PRUNE_THREAD = """
WITH idle AS (
    SELECT NOT EXISTS (SELECT 1 FROM runs WHERE thread_id = %(thread)s::uuid AND status IN ('pending', 'running'))
        AS ok
), stamp AS (
    UPDATE threads SET pruned_at = now() WHERE thread_id = %(thread)s::uuid AND (SELECT ok FROM idle)
), cps AS (
    SELECT checkpoint_ns, checkpoint_id, parent_checkpoint_id,
           row_number() OVER (PARTITION BY checkpoint_ns ORDER BY checkpoint_id DESC) AS newest
    FROM checkpoints WHERE thread_id = %(thread)s::text AND (SELECT ok FROM idle)
), children AS (
    SELECT checkpoint_ns, parent_checkpoint_id AS checkpoint_id, count(*) AS n
    FROM cps WHERE parent_checkpoint_id IS NOT NULL GROUP BY 1, 2
), doomed AS (
    -- Not a tip (no child), not a fork point (two or more), and not a branch's first checkpoint either:
    -- a fork point stays one only while all its children do.
    SELECT cps.checkpoint_ns, cps.checkpoint_id FROM cps
    JOIN children USING (checkpoint_ns, checkpoint_id)
    WHERE cps.newest > %(keep)s AND children.n = 1
      AND NOT EXISTS (SELECT 1 FROM children f WHERE f.n > 1 AND f.checkpoint_ns = cps.checkpoint_ns
                      AND f.checkpoint_id = cps.parent_checkpoint_id)
), gone AS (
    DELETE FROM checkpoints c USING doomed d
    WHERE c.thread_id = %(thread)s::text AND c.checkpoint_ns = d.checkpoint_ns AND c.checkpoint_id = d.checkpoint_id
    RETURNING c.checkpoint_ns, c.checkpoint
), writes AS (
    DELETE FROM checkpoint_writes w USING doomed d
    WHERE w.thread_id = %(thread)s::text AND w.checkpoint_ns = d.checkpoint_ns AND w.checkpoint_id = d.checkpoint_id
), unused AS (
    SELECT DISTINCT g.checkpoint_ns, v.key AS channel, v.value AS version
    FROM gone g, jsonb_each_text(g.checkpoint -> 'channel_versions') v
    WHERE NOT EXISTS (
        SELECT 1 FROM checkpoints k
        WHERE k.thread_id = %(thread)s::text AND k.checkpoint_ns = g.checkpoint_ns
          AND k.checkpoint -> 'channel_versions' ->> v.key = v.value
          AND NOT EXISTS (SELECT 1 FROM doomed d WHERE d.checkpoint_ns = k.checkpoint_ns
                          AND d.checkpoint_id = k.checkpoint_id))
), blobs AS (
    DELETE FROM checkpoint_blobs b USING unused u
    WHERE b.thread_id = %(thread)s::text AND b.checkpoint_ns = u.checkpoint_ns AND b.channel = u.channel
      AND b.version = u.version
)
SELECT count(*) AS n FROM doomed
"""

_IDLE = "NOT EXISTS (SELECT 1 FROM runs r WHERE r.thread_id = t.thread_id AND r.status IN ('pending', 'running'))"

# Threads changed since they were last pruned and idle now, claimed so two workers split the work.
_CLAIM_THREADS = f"""
UPDATE threads SET pruned_at = now() WHERE thread_id IN (
    SELECT t.thread_id FROM threads t
    WHERE t.updated_at > coalesce(t.pruned_at, '-infinity') AND {_IDLE}
    ORDER BY t.updated_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED)
RETURNING thread_id
"""

_EXPIRE_EVENTS = """
WITH old AS (
    SELECT run_id FROM runs
    WHERE status NOT IN ('pending', 'running') AND ended_at < now() - make_interval(secs => %(retention)s)
      AND events_pruned_at IS NULL
    ORDER BY ended_at LIMIT %(batch)s FOR UPDATE SKIP LOCKED
), marked AS (
    UPDATE runs SET events_pruned_at = now() FROM old WHERE runs.run_id = old.run_id
), ends AS (
    UPDATE run_events e SET data = jsonb_build_object('status', e.data -> 'status', 'output', NULL, 'pruned', true),
           base_seq = NULL
    FROM old WHERE e.run_id = old.run_id AND e.event = '__end__'
), dropped AS (
    DELETE FROM run_events e USING old WHERE e.run_id = old.run_id AND e.event <> '__end__' RETURNING 1
)
SELECT (SELECT count(*) FROM old) AS runs, (SELECT count(*) FROM dropped) AS events
"""


@dataclass
class Pruned:
    threads: int = 0
    checkpoints: int = 0
    runs: int = 0
    events: int = 0


async def prune_thread(pool: Pool, thread_id: str, *, keep: int) -> int:
    """Superseded checkpoints of one idle thread; returns how many went. A busy thread is left alone."""
    async with pool.connection() as conn:
        row = await (await conn.execute(_PRUNE_THREAD, {"thread": thread_id, "keep": keep})).fetchone()
    return int(row["n"]) if row else 0


async def prune_pass(pool: Pool, *, keep: int, retention_s: float, batch: int) -> Pruned:
    """One background pass: a batch of changed idle threads, and a batch of expired event logs."""
    done = Pruned()
    async with pool.connection() as conn:
        claimed = await (await conn.execute(_CLAIM_THREADS, {"batch": batch})).fetchall()
    for row in claimed:
        done.checkpoints += await prune_thread(pool, str(row["thread_id"]), keep=keep)
    done.threads = len(claimed)
    async with pool.connection() as conn:
        expired = await (await conn.execute(_EXPIRE_EVENTS, {"retention": retention_s, "batch": batch})).fetchone()
    if expired:
        done.runs, done.events = int(expired["runs"]), int(expired["events"])
    if done.checkpoints or done.events:
        logger.info("prune.pass", extra=vars(done))
    return done


# Every idle thread, in id order after a cursor: the CLI's sweep.
_IDLE_THREADS_AFTER = f"""
SELECT t.thread_id FROM threads t WHERE t.thread_id > %(after)s AND {_IDLE} ORDER BY t.thread_id LIMIT %(batch)s
"""


async def prune_all(pool: Pool, *, keep: int, retention_s: float, batch: int) -> Pruned:
    """The CLI: every idle thread, not only those changed since their last prune (an operator who runs it
    with a lower --keep means all of them), then every expired event log; small statements throughout, so
    runs are never blocked for long."""
    total, after = Pruned(), uuid.UUID(int=0)
    while True:
        async with pool.connection() as conn:
            rows = await (await conn.execute(_IDLE_THREADS_AFTER, {"after": after, "batch": batch})).fetchall()
        for row in rows:
            total.checkpoints += await prune_thread(pool, str(row["thread_id"]), keep=keep)
        total.threads += len(rows)
        if len(rows) < batch:
            break
        after = rows[-1]["thread_id"]
    while True:
        async with pool.connection() as conn:
            expired = await (await conn.execute(_EXPIRE_EVENTS, {"retention": retention_s, "batch": batch})).fetchone()
        runs = int(expired["runs"]) if expired else 0
        total.runs += runs
        total.events += int(expired["events"]) if expired else 0
        if runs < batch:
            return total


async def run_cli(settings: Settings, keep: int | None, retention_s: float | None) -> None:
    """`python -m handrail prune`: every pass until nothing is left, then a one-line summary."""
    import sys

    from handrail.db import open_pool

    async with open_pool(settings) as (pool, _target):
        done = await prune_all(
            pool,
            keep=keep or settings.checkpoints_keep,
            retention_s=settings.run_events_retention_s if retention_s is None else retention_s,
            batch=settings.prune_batch,
        )
    sys.stdout.write(
        f"pruned {done.checkpoints} checkpoints of {done.threads} threads, "
        f"and {done.events} events of {done.runs} finished runs\n"
    )
