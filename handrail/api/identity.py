"""GET /auth/me: who the key sent is, as the server sees it (a client shows it; the approval console does)."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from handrail.api.deps import PrincipalDep, ServicesDep

router = APIRouter(prefix="/auth", tags=["auth"])


class Caller(BaseModel):
    user_id: str = Field(description="Whose key it is; decisions made with it are recorded under this name.")
    is_admin: bool = Field(description="Admin keys see every user's threads, runs and approvals.")
    dev_mode: bool = Field(description="No API keys are configured: every request is `local-dev`, an admin.")


@router.get("/me")
async def me(services: ServicesDep, principal: PrincipalDep) -> Caller:
    return Caller(user_id=principal.user_id, is_admin=principal.is_admin, dev_mode=services.keyring.dev_mode)
