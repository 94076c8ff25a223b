"""With no DATABASE_URL, Handrail starts a real embedded Postgres and runs on it unchanged."""

from __future__ import annotations

import pytest

from handrail.db import open_pool
from handrail.migrate import migrate
from handrail.settings import Settings
from tests.support.agents import make_graph, user


@pytest.mark.slow
async def test_embedded_postgres_starts_migrates_and_checkpoints(tmp_path):
    settings = Settings(database_url=None, data_dir=tmp_path / "hr", pool_max_size=4)
    async with open_pool(settings) as (pool, target):
        assert target.kind == "embedded"
        assert str(tmp_path) in target.where
        await migrate(pool)
        async with pool.connection() as conn:
            version = (await (await conn.execute("SHOW server_version")).fetchone())["server_version"]
        result = await make_graph(pool).ainvoke(user("what is 6*7"), {"configurable": {"thread_id": "e1"}})
    assert int(version.split(".")[0]) >= 15
    assert "6*7 = 42" in result["final_answer"]
    # The data outlives the process: a second start finds the thread's checkpoints.
    async with open_pool(settings) as (pool, _):
        state = await make_graph(pool).aget_state({"configurable": {"thread_id": "e1"}})
    assert "6*7 = 42" in state.values["final_answer"]
