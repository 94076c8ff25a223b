"""Crons: schedules that create runs (stateless, or on one thread); the scheduler is handrail.crons."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Response
from pydantic import BaseModel, ConfigDict, Field

from handrail import crons
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import Limit, Offset, page, page_of
from handrail.crons import Cron

router = APIRouter(tags=["crons"])

SortBy = Literal["cron_id", "assistant_id", "thread_id", "next_run_date", "end_time", "created_at", "updated_at"]


class _RunFields(BaseModel):
    """What each firing's run is made with; shared by a cron's creation and its updates."""

    model_config = ConfigDict(extra="allow")  # unknown fields are tolerated, as the SDK sends some

    input: dict[str, Any] | list[Any] | None = None
    metadata: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    webhook: str | None = None
    interrupt_before: Literal["*"] | list[str] | None = None
    interrupt_after: Literal["*"] | list[str] | None = None
    stream_mode: str | list[str] | None = None
    stream_subgraphs: bool | None = None
    stream_resumable: bool | None = None
    durability: Literal["sync", "async", "exit"] | None = None


class CronCreate(_RunFields):
    """A schedule and the run it creates."""

    assistant_id: str = Field(description="Assistant UUID, or a graph id such as `agent`.")
    schedule: str = Field(description="Cron expression: 5 fields, or 6 with seconds last.")
    timezone: str | None = Field(None, description="IANA zone the schedule is read in; default UTC.")
    end_time: datetime | None = Field(None, description="No firing after this time.")
    enabled: bool = True
    on_run_completed: Literal["delete", "keep"] | None = Field(
        None, description="Stateless crons: delete (default) or keep each firing's thread."
    )
    checkpoint_during: bool | None = None
    multitask_strategy: Literal["reject", "interrupt", "rollback", "enqueue"] | None = None


class CronPatch(_RunFields):
    schedule: str | None = None
    timezone: str | None = None
    end_time: datetime | None = None
    enabled: bool | None = None
    on_run_completed: Literal["delete", "keep"] | None = None


class CronSearch(BaseModel):
    assistant_id: str | None = None
    thread_id: str | None = None
    enabled: bool | None = None
    metadata: dict[str, Any] | None = None
    limit: Limit = 10
    offset: Offset = 0
    sort_by: SortBy = "created_at"
    sort_order: Literal["asc", "desc"] = "desc"
    select: list[str] | None = None

    def filters(self) -> dict[str, Any]:
        """What selects the crons, shared by search and count (paging and sorting are search's own)."""
        return {
            "assistant_id": self.assistant_id,
            "thread_id": self.thread_id,
            "enabled": self.enabled,
            "metadata": self.metadata,
        }


@router.post("/runs/crons")
async def create_stateless_cron(body: CronCreate, services: ServicesDep, principal: PrincipalDep) -> Cron:
    row = await crons.create_cron(services, principal, None, body.model_dump(exclude_unset=True))
    return Cron.from_row(row)


@router.post("/threads/{thread_id}/runs/crons")
async def create_thread_cron(
    thread_id: uuid.UUID, body: CronCreate, services: ServicesDep, principal: PrincipalDep
) -> Cron:
    fields = body.model_dump(exclude_unset=True)
    fields.pop("on_run_completed", None)  # a thread cron's runs stay on its thread
    row = await crons.create_cron(services, principal, str(thread_id), fields)
    return Cron.from_row(row)


@router.post("/runs/crons/search", response_model=page_of(Cron), response_model_exclude_unset=True)
async def search_crons(
    body: CronSearch, services: ServicesDep, principal: PrincipalDep, response: Response
) -> list[dict[str, Any]]:
    rows, total = await crons.search_crons(
        services,
        principal,
        **body.filters(),
        limit=body.limit,
        offset=body.offset,
        sort_by=body.sort_by,
        sort_order=body.sort_order,
    )
    return page(response, [Cron.from_row(r) for r in rows], total=total, offset=body.offset, select=body.select)


@router.post("/runs/crons/count")
async def count_crons(
    services: ServicesDep, principal: PrincipalDep, body: Annotated[CronSearch | None, Body()] = None
) -> int:
    body = body or CronSearch()
    _, total = await crons.search_crons(services, principal, **body.filters(), limit=1)
    return total


@router.get("/runs/crons/{cron_id}")
async def get_cron(cron_id: uuid.UUID, services: ServicesDep, principal: PrincipalDep) -> Cron:
    return Cron.from_row(await crons.get_cron(services, principal, str(cron_id)))


@router.patch("/runs/crons/{cron_id}")
async def update_cron(cron_id: uuid.UUID, body: CronPatch, services: ServicesDep, principal: PrincipalDep) -> Cron:
    row = await crons.update_cron(services, principal, str(cron_id), body.model_dump(exclude_unset=True))
    return Cron.from_row(row)


@router.delete("/runs/crons/{cron_id}", status_code=204)
async def delete_cron(cron_id: uuid.UUID, services: ServicesDep, principal: PrincipalDep) -> None:
    await crons.delete_cron(services, principal, str(cron_id))
