"""A run's event log, read back whole: `values` deltas rebuilt, an output that points at an event
resolved, and an older run's state kept as the change back from a newer run's (handrail/runs/events.py
says why). Writing is repo.append_event (single events) and runs/event_writer.py (a run's stream)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow
from psycopg.types.json import Jsonb

from handrail.db import Pool
from handrail.runs.events import VALUES, ValuesDecoder, apply
from handrail.runs.repo import END_EVENT, OUTPUT_EXTRAS

logger = logging.getLogger("handrail.runs")


async def end_event(pool: Pool, run_id: uuid.UUID) -> dict[str, Any] | None:
    """The run's end marker with its output whole (it may point at the run's last `values` event)."""
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT data FROM run_events WHERE run_id = %s AND event = %s",
                (run_id, END_EVENT),
            )
        ).fetchone()
        if row is None:
            return None
        end = dict(row["data"] or {})
        if end.get("output_of") is not None:
            values = await values_at(conn, run_id, int(end.pop("output_of")))
            kept = {k: v for k, v in (values or {}).items() if k not in OUTPUT_EXTRAS}
            end["output"] = {**kept, **end.pop("extra", {})}
    return end


async def events_after(
    pool: Pool, run_id: uuid.UUID, after: int, decoder: ValuesDecoder | None = None
) -> list[dict[str, Any]]:
    """Events after seq `after`, each whole: `values` deltas are rebuilt through `decoder`, which a
    reader keeps between calls so that each delta is applied once."""
    decoder = decoder or ValuesDecoder()
    async with pool.connection() as conn:
        rows = await (
            await conn.execute(
                "SELECT seq, event, data, base_seq, base_run FROM run_events WHERE run_id = %s AND seq > %s "
                "ORDER BY seq LIMIT 500",
                (run_id, after),
            )
        ).fetchall()
        for row in rows:
            if row["event"] != VALUES:
                continue
            if row["base_run"] is not None:  # a compacted first event: rebuilt from the newer run's
                row["data"] = decoder.take(row["seq"], await values_at(conn, run_id, row["seq"]), None)
                continue
            if row["base_seq"] is not None and decoder.seq != row["base_seq"]:
                decoder.seq, decoder.state = row["base_seq"], await values_at(conn, run_id, row["base_seq"])
            try:
                row["data"] = decoder.take(row["seq"], row["data"], row["base_seq"])
            except LookupError:
                # Only when what it was stored against is gone (a pruned log): say so, do not guess.
                logger.warning("run_events.unreadable", extra={"run_id": str(run_id), "seq": row["seq"]})
                row["data"] = None
    return rows


async def values_at(conn: AsyncConnection[DictRow], run_id: uuid.UUID, seq: int) -> dict[str, Any] | None:
    """The whole state of `values` event `seq`: the run's first event, then every delta up to `seq`.
    The first event may itself be kept as the change back from a newer run's first event (compacted):
    that chain is followed forward to the one stored whole, then walked back."""
    rows = await (
        await conn.execute(
            "SELECT seq, data, base_seq, base_run FROM run_events WHERE run_id = %(run)s AND event = %(values)s "
            "AND seq <= %(seq)s AND seq >= (SELECT coalesce(max(seq), 0) FROM run_events WHERE run_id = %(run)s "
            "AND event = %(values)s AND (base_seq IS NULL OR base_run IS NOT NULL) AND seq <= %(seq)s) ORDER BY seq",
            {"run": run_id, "values": VALUES, "seq": seq},
        )
    ).fetchall()
    if not rows:
        return None
    decoder = ValuesDecoder()
    first = rows[0]
    if first["base_run"] is not None:
        chain = await (await conn.execute(_FORWARD_CHAIN, {"run": run_id, "seq": first["seq"]})).fetchall()
        if not chain or chain[-1]["base_run"] is not None or chain[-1]["base_seq"] is not None:
            return None  # the newer event it was kept against is gone
        state = chain[-1]["data"]
        for link in reversed(chain[:-1]):
            state = apply(state, link["data"])
        decoder.take(first["seq"], state, None)
        rows = rows[1:]
    for row in rows:
        decoder.take(row["seq"], row["data"], row["base_seq"])
    return decoder.state if decoder.seq == seq else None


# From a compacted first event, through newer runs' first events, to the one stored whole.
_FORWARD_CHAIN = """
WITH RECURSIVE chain AS (
    SELECT run_id, seq, data, base_run, base_seq, 0 AS depth FROM run_events WHERE run_id = %(run)s AND seq = %(seq)s
    UNION ALL
    SELECT e.run_id, e.seq, e.data, e.base_run, e.base_seq, c.depth + 1
    FROM chain c JOIN run_events e ON e.run_id = c.base_run AND e.seq = c.base_seq
)
SELECT data, base_run, base_seq FROM chain ORDER BY depth
"""


# The previous run's first `values` event, kept as the change back from this run's first one, computed
# where the data is: the two states never travel to Python. For a conversation the change is "the first
# n messages" (truncate); a key whose old value is not a prefix of the new one is stored whole (set).
_COMPACT = """
WITH newer AS (
    SELECT seq, data FROM run_events
    WHERE run_id = %(run)s AND event = 'values' AND base_seq IS NULL AND base_run IS NULL
      AND jsonb_typeof(data) = 'object'
    ORDER BY seq LIMIT 1
), older AS (
    SELECT e.run_id, e.seq, e.data FROM runs r JOIN run_events e ON e.run_id = r.run_id
    WHERE r.thread_id = %(thread)s AND r.run_id <> %(run)s
      AND r.created_at <= (SELECT created_at FROM runs WHERE run_id = %(run)s)
      AND e.event = 'values' AND e.base_seq IS NULL AND e.base_run IS NULL AND jsonb_typeof(e.data) = 'object'
    ORDER BY r.created_at DESC, e.seq LIMIT 1
), parts AS (
    SELECT o.key, o.value AS old, newer.data -> o.key AS new,
           jsonb_typeof(o.value) = 'array' AND jsonb_typeof(newer.data -> o.key) = 'array'
           AND jsonb_array_length(o.value) <= jsonb_array_length(newer.data -> o.key)
           AND o.value = coalesce((
               SELECT jsonb_agg(x ORDER BY i) FROM jsonb_array_elements(newer.data -> o.key) WITH ORDINALITY t(x, i)
               WHERE i <= jsonb_array_length(o.value)), '[]'::jsonb) AS prefix
    FROM older, newer, jsonb_each(older.data) o
), delta AS (
    SELECT coalesce((SELECT jsonb_build_object('set', jsonb_object_agg(key, old))
                     FROM parts WHERE new IS DISTINCT FROM old AND NOT prefix HAVING count(*) > 0), '{}')
        || coalesce((SELECT jsonb_build_object('truncate', jsonb_object_agg(key, jsonb_array_length(old)))
                     FROM parts WHERE new IS DISTINCT FROM old AND prefix HAVING count(*) > 0), '{}')
        || coalesce((SELECT jsonb_build_object('drop', jsonb_agg(k)) FROM newer, older, jsonb_object_keys(newer.data) k
                     WHERE NOT older.data ? k HAVING count(*) > 0), '{}') AS data
)
UPDATE run_events e SET data = delta.data, base_run = %(run)s, base_seq = newer.seq
FROM older, newer, delta
WHERE e.run_id = older.run_id AND e.seq = older.seq AND e.base_run IS NULL
RETURNING e.seq
"""


async def compact_previous_keyframe(pool: Pool, thread_id: object, run_id: uuid.UUID) -> bool:
    """Keep the previous run's first `values` event as the change back from this run's first one, so
    that only the newest run of a thread stores the whole state. False if there was nothing to do."""
    async with pool.connection() as conn:
        row = await (await conn.execute(_COMPACT, {"run": run_id, "thread": thread_id})).fetchone()
    return row is not None


async def materialize_dependents(conn: AsyncConnection[DictRow], run_id: uuid.UUID) -> None:
    """Before run `run_id`'s events go: store whole again every first event that was kept against it."""
    dependents = await (
        await conn.execute("SELECT run_id, seq FROM run_events WHERE base_run = %s", (run_id,))
    ).fetchall()
    for row in dependents:
        state = await values_at(conn, row["run_id"], row["seq"])
        await conn.execute(
            "UPDATE run_events SET data = %s, base_run = NULL, base_seq = NULL WHERE run_id = %s AND seq = %s",
            (Jsonb(state), row["run_id"], row["seq"]),
        )


async def last_seq(pool: Pool, run_id: uuid.UUID) -> int:
    async with pool.connection() as conn:
        row = await (
            await conn.execute(
                "SELECT coalesce(max(seq), 0) AS seq FROM run_events WHERE run_id = %s AND event <> %s",
                (run_id, END_EVENT),
            )
        ).fetchone()
    return int(row["seq"]) if row else 0
