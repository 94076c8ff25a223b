"""What the agent remembers about a user (the `remember` tool's memories), to read and delete: the caller's own,
or any user's with an admin key. The same items are under /store, namespace ["memories"]."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from handrail import memory
from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.api.paging import LimitQuery, OffsetQuery

router = APIRouter(tags=["memories"])

UserQuery = Annotated[
    str | None, Query(description="Whose memories (admin keys only); leave out for the caller's own.")
]


class MemoryOut(BaseModel):
    id: str = Field(description="The memory's id: its key in the store namespace ['memories'].")
    text: str = Field(description="The fact or preference, as it was kept.")
    created_at: str
    updated_at: str
    source_thread: str | None = Field(None, description="The thread in which the user asked to remember it.")


class MemoriesResponse(BaseModel):
    user_id: str = Field(description="Whose memories these are.")
    memories: list[MemoryOut] = Field(description="Newest first.")


@router.get("/memories", response_model=MemoriesResponse)
async def list_memories(
    services: ServicesDep,
    principal: PrincipalDep,
    user_id: UserQuery = None,
    limit: LimitQuery = 100,
    offset: OffsetQuery = 0,
) -> MemoriesResponse:
    """What the agent remembers for the caller (or, with an admin key, for `user_id`), newest first."""
    owner = memory.memory_owner(principal, user_id)
    found = await memory.list_memories(services.store, owner, limit=limit, offset=offset)
    return MemoriesResponse(user_id=owner, memories=[MemoryOut(**m) for m in found])


@router.delete("/memories/{memory_id}", status_code=204, response_class=Response)
async def delete_memory(
    memory_id: str, services: ServicesDep, principal: PrincipalDep, user_id: UserQuery = None
) -> Response:
    """Forget one memory: the agent no longer sees it in any thread. 404 when there is no such memory."""
    await memory.delete_memory(services.store, memory.memory_owner(principal, user_id), memory_id)
    return Response(status_code=204)
