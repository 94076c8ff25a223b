"""`python -m handrail worker`: a process that only executes runs, for scaling out beside the API."""

from __future__ import annotations

import asyncio
import logging
import signal

from handrail.runs.worker import Worker
from handrail.services import open_services
from handrail.settings import Settings

logger = logging.getLogger("handrail.worker")


async def run_worker_process(settings: Settings) -> None:
    """Run until SIGTERM/SIGINT, then hand in-flight runs back to the queue."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    async with open_services(settings) as services:
        worker = Worker(services, concurrency=max(1, settings.workers))
        await worker.start()
        await stopping.wait()
        logger.info("worker.stopping", extra={"worker_id": services.worker_id})
        await worker.stop()
