"""`python -m handrail serve | migrate | worker | prune`: the service's command line."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from handrail.logs import configure_logging
from handrail.settings import get_settings


async def _migrate() -> None:
    from handrail.db import open_pool
    from handrail.migrate import migrate

    settings = get_settings()
    async with open_pool(settings) as (pool, target):
        applied = await migrate(pool)
        logging.getLogger("handrail").info(
            "migrate.done", extra={"applied": applied or "none (already current)", "database": target.kind}
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="handrail", description=__doc__)
    parser.add_argument("command", choices=["serve", "migrate", "worker", "prune"])
    parser.add_argument("--keep", type=int, help="prune: checkpoints kept per thread (default CHECKPOINTS_KEEP)")
    parser.add_argument(
        "--events-older-than",
        type=float,
        metavar="SECONDS",
        help="prune: event logs of runs finished longer ago (default RUN_EVENTS_RETENTION_S)",
    )
    args = parser.parse_args(argv)
    configure_logging(get_settings().log_level)
    if args.command == "migrate":
        asyncio.run(_migrate())
    elif args.command == "prune":
        from handrail.prune import run_cli

        asyncio.run(run_cli(get_settings(), args.keep, args.events_older_than))
    elif args.command == "serve":
        from handrail.processes import serve

        return serve(get_settings())
    else:
        from handrail.worker_main import run_worker_process

        asyncio.run(run_worker_process(get_settings()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
