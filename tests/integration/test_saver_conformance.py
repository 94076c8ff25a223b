"""HandrailSaver passes LangGraph's own checkpointer conformance suite (langgraph-checkpoint-conformance):
put, put_writes, get_tuple, list, delete_thread and prune, each on a database of its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

from langgraph.checkpoint.conformance import checkpointer_test, validate

from handrail.db import make_pool
from handrail.migrate import migrate
from handrail.saver import HandrailSaver
from tests.support.db import fresh_database


@checkpointer_test(name="HandrailSaver")
async def handrail_saver() -> AsyncIterator[HandrailSaver]:
    # The suite's list tests read every thread of the saver: each instance gets an empty database.
    with fresh_database() as dsn:
        pool = make_pool(dsn, max_size=10)
        await pool.open(wait=True)
        try:
            await migrate(pool)
            yield HandrailSaver(pool)  # type: ignore[arg-type]
        finally:
            await pool.close()


async def test_handrail_saver_passes_langgraphs_checkpointer_conformance_suite():
    report = await validate(handrail_saver)
    report.print_report()
    failures = {name: r.failures for name, r in report.results.items() if r.failures}
    assert report.passed_all_base(), failures
    assert report.results["put_writes"].tests_passed > 0 and not failures
