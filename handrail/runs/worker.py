"""The worker: claims queued runs, keeps their leases alive, honours cancels, takes over runs whose
worker died, and expires approvals nobody decided. Runs inside the API process or on its own."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from typing import Any

from handrail import approvals, notify, prune, threads
from handrail.auth import Principal
from handrail.errors import HandrailError
from handrail.runs import event_log, repo
from handrail.runs.executor import Stop, announce_end, execute
from handrail.runs.liveness import LOCK_NAMESPACE, Liveness
from handrail.services import Services, delete_thread

logger = logging.getLogger("handrail.worker")


class Worker:
    def __init__(self, services: Services, *, concurrency: int) -> None:
        self._services = services
        self._concurrency = concurrency
        self._running: dict[uuid.UUID, tuple[asyncio.Task[None], Stop]] = {}
        self._loops: list[asyncio.Task[None]] = []
        self._slot_freed = asyncio.Event()
        self._liveness: Liveness | None = None
        self._reserved = 0  # slots promised to runs being created in this process (see reserve)
        self._accepting = False

    async def start(self) -> None:
        services = self._services
        self._liveness = await Liveness.hold(services.database.dsn, services.worker_id)
        for name, loop in (
            ("claim", self._claim_loop),
            ("heartbeat", self._heartbeat_loop),
            ("maintenance", self._maintenance_loop),
        ):
            self._loops.append(asyncio.create_task(loop(), name=f"worker-{name}"))
        self._accepting = True
        logger.info("worker.started", extra={"worker_id": self._services.worker_id, "concurrency": self._concurrency})

    async def stop(self) -> None:
        """Graceful: stop claiming, hand in-flight runs back to the queue (they resume from their checkpoint).

        Bounded by SHUTDOWN_GRACE_S: a run that will not stop in time is left `running`, and the reaper
        of any other worker takes it over when its lease lapses, so a stuck run never blocks a shutdown.
        """
        self._accepting = False
        for loop in self._loops:
            loop.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        for _task, stop in self._running.values():
            stop.reason = "shutdown"
        deadline = asyncio.get_running_loop().time() + self._services.settings.shutdown_grace_s
        while pending := [t for t, stop in self._running.values() if not t.done()]:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                logger.warning("worker.stop_timed_out", extra={"runs": [str(r) for r in self._running]})
                break
            for task, stop in self._running.values():
                if not stop.handled:
                    task.cancel()
            await asyncio.wait(pending, timeout=min(left, self._services.settings.heartbeat_s))
        if self._liveness is not None:
            await self._liveness.release()

    async def _claim_loop(self) -> None:
        """Claim queued runs while slots are free. A freed slot alone only claims when runs may be
        waiting (a nudge came, or the last claim filled every slot): most runs are started by the
        process that creates them, and a claim after each of them found nothing."""
        settings = self._services.settings
        maybe_queued = True
        async with self._services.bus.subscribe("runs") as nudges:
            while True:
                try:
                    while maybe_queued and len(self._running) + self._reserved < self._concurrency:
                        run = await repo.claim_next(self._services.pool, self._services.worker_id)
                        if run is None:
                            maybe_queued = False
                            break
                        self._launch(run)
                except Exception:
                    logger.warning("worker.claim_failed", exc_info=True)  # e.g. Postgres restarting: poll again
                nudge = asyncio.ensure_future(nudges.wait(settings.worker_poll_s))
                freed = asyncio.ensure_future(self._slot_freed.wait())
                await asyncio.wait({nudge, freed}, return_when=asyncio.FIRST_COMPLETED)
                # A nudge, or the poll interval (a lost nudge, a delayed run come due): look again.
                maybe_queued = maybe_queued or nudge.done()
                for waiter in (nudge, freed):
                    waiter.cancel()
                self._slot_freed.clear()

    def reserve(self) -> bool:
        """A slot for a run this process is creating, which then starts here at once (adopt) instead of
        waiting for a nudge and a claim. False when every slot is taken or the worker is stopping."""
        if not self._accepting or len(self._running) + self._reserved >= self._concurrency:
            return False
        self._reserved += 1
        return True

    def adopt(self, run: dict[str, Any] | None) -> None:
        """Use the slot `reserve` gave: run `run` if it was created running here; else free the slot."""
        self._reserved -= 1
        if run is not None and run["status"] == "running" and run["worker_id"] == self._services.worker_id:
            self._launch(run)
        else:
            self._slot_freed.set()

    def _launch(self, run: dict[str, Any]) -> None:
        stop = Stop()
        task = asyncio.create_task(self._execute(run, stop), name=f"run-{run['run_id']}")
        self._running[run["run_id"]] = (task, stop)

    async def _execute(self, run: dict[str, Any], stop: Stop) -> None:
        step = None
        try:
            step = await execute(self._services, run, stop)
        except asyncio.CancelledError:
            if stop.reason == "shutdown":
                await asyncio.shield(repo.release(self._services.pool, run["run_id"], self._services.worker_id))
        except Exception:
            # The run stays `running` with no heartbeat: the reaper re-queues it and it resumes from its checkpoint.
            logger.exception("worker.execute_failed", extra={"run_id": str(run["run_id"])})
        else:
            if step is not None and (run.get("follows") or step + 2 > self._services.settings.checkpoints_keep):
                await self._prune(run)
        finally:
            self._running.pop(run["run_id"], None)
            self._slot_freed.set()

    async def _prune(self, run: dict[str, Any]) -> None:
        """The client has its answer: drop the thread's superseded checkpoints while they are few, and
        keep the previous run's whole-state event as a change from this run's. A failure costs nothing
        but space; the periodic pass prunes again.

        Skipped for a thread's first run when its checkpoints (steps -1 to `step`) are within
        CHECKPOINTS_KEEP: there is nothing to drop and no older run to compact against, and the two
        statements were a quarter of Postgres' time per run for threads of one run."""
        try:
            pool = self._services.pool
            await prune.prune_thread(pool, str(run["thread_id"]), keep=self._services.settings.checkpoints_keep)
            await event_log.compact_previous_keyframe(pool, run["thread_id"], run["run_id"])
        except Exception:
            logger.warning("prune.thread_failed", extra={"thread_id": str(run["thread_id"])}, exc_info=True)

    async def _heartbeat_loop(self) -> None:
        settings = self._services.settings
        async with self._services.bus.subscribe("cancel") as cancels:
            while True:
                await cancels.wait(settings.heartbeat_s)
                # Judge only the runs this heartbeat asked about: a run claimed while the UPDATE was in
                # flight is missing from its answer, and must not be taken for a lost lease.
                asked = list(self._running)
                try:
                    if self._liveness is not None:
                        await self._liveness.ensure()
                    alive = await repo.heartbeat(self._services.pool, self._services.worker_id, asked)
                except Exception:
                    logger.warning("worker.heartbeat_failed", exc_info=True)
                    continue
                for run_id in asked:
                    if run_id not in self._running:
                        continue  # finished meanwhile
                    task, stop = self._running[run_id]
                    if stop.handled:
                        continue  # it is finishing: a further cancel would interrupt its bookkeeping
                    if run_id not in alive:
                        stop.reason = "lease_lost"  # another worker owns it now: stop without finishing it
                        task.cancel()
                    elif alive[run_id]:
                        stop.reason = stop.reason or alive[run_id]
                        task.cancel()  # again on every heartbeat until the run has seen it

    async def _maintenance_loop(self) -> None:
        """Reaping every heartbeat (at once on start: a restarted server takes over its predecessor's
        runs without waiting); the other chores every min(lease/2, 5 s)."""
        settings = self._services.settings
        chores_every = min(settings.run_lease_s / 2, 5.0)
        chores_due = asyncio.get_running_loop().time() + chores_every
        prune_due = asyncio.get_running_loop().time() + settings.prune_interval_s
        while True:
            try:
                await self._reap()
                if asyncio.get_running_loop().time() >= chores_due:
                    chores_due += chores_every
                    await self._expire_approvals()
                    await self._sweep_stateless_threads()
                    await notify.resend_unnotified(self._services)
                if asyncio.get_running_loop().time() >= prune_due:
                    prune_due += settings.prune_interval_s
                    await prune.prune_pass(
                        self._services.pool,
                        keep=settings.checkpoints_keep,
                        retention_s=settings.run_events_retention_s,
                        batch=settings.prune_batch,
                    )
            except Exception:
                logger.warning("worker.maintenance_failed", exc_info=True)
            await asyncio.sleep(settings.heartbeat_s)

    async def _reap(self) -> None:
        services = self._services
        settings = services.settings
        reaped = await repo.reap_expired(
            services.pool,
            settings.run_lease_s,
            settings.run_max_attempts,
            dead_after_s=min(settings.run_lease_s, 2 * settings.heartbeat_s),
            namespace=LOCK_NAMESPACE,
        )
        for row in reaped:
            logger.warning(
                "run.worker_lost", extra={"run_id": str(row["run_id"]), "now": row["status"], "attempt": row["attempt"]}
            )
            services.metrics.taken_over.labels("failed" if row["status"] == "error" else "requeued").inc()
            if row["status"] == "error":
                await repo.append_event(
                    services.pool, row["run_id"], repo.END_EVENT, {"status": "error", "output": None}
                )
                await threads.set_status(services.pool, str(row["thread_id"]), "error")
                await announce_end(services, row["run_id"])
        if reaped:
            await services.bus.publish("runs")

    async def _sweep_stateless_threads(self) -> None:
        ttl = self._services.settings.stateless_thread_ttl_s
        for thread_id in await repo.finished_temporary_threads(self._services.pool, ttl):
            await delete_thread(self._services, thread_id)

    async def _expire_approvals(self) -> None:
        from handrail.runs.service import resume_approval

        for row in await approvals.expired(self._services.pool):
            feedback = f"approval expired after {self._services.settings.approval_ttl_s:g} s without a decision"
            owner = Principal(row["user_id"])
            with contextlib.suppress(HandrailError):  # decided or deleted meanwhile
                await resume_approval(
                    self._services,
                    owner,
                    row["approval_id"],
                    {"decision": "reject", "feedback": feedback},
                    expired=True,
                )
                logger.info("approval.expired", extra={"approval_id": row["approval_id"]})
