"""The tools runs may call, with the JSON schema of their arguments: what a client needs to show a tool call, or to
build a form for editing one before approving it (the approval console does)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from handrail.api.deps import PrincipalDep, ServicesDep
from handrail.errors import NotFound
from tools.base import Risk, ToolSpec

router = APIRouter(prefix="/tools", tags=["tools"])


class ToolInfo(BaseModel):
    """A registered tool, as the planner sees it, plus whether a person must approve its calls."""

    name: str
    description: str = Field(description="Written for the model: what the tool does and when to use it.")
    risk: Risk
    requires_approval: bool
    args_schema: dict[str, Any] = Field(description="JSON schema of the arguments (the server validates against it).")

    @classmethod
    def of(cls, spec: ToolSpec[Any]) -> ToolInfo:
        return cls(**spec.describe())


@router.get("")
async def list_tools(services: ServicesDep, _: PrincipalDep) -> list[ToolInfo]:
    return [ToolInfo.of(spec) for spec in services.deps.registry.specs()]


@router.get("/{name}")
async def get_tool(name: str, services: ServicesDep, _: PrincipalDep) -> ToolInfo:
    spec = services.deps.registry.get(name)
    if spec is None:
        raise NotFound(f"no tool named {name!r}; GET /tools lists them")
    return ToolInfo.of(spec)
