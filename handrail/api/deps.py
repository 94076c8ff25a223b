"""What handlers receive: the services of this process and the authenticated principal."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from handrail.auth import Principal
from handrail.errors import Forbidden
from handrail.services import Services


async def get_services(request: Request) -> Services:
    # async on purpose: FastAPI runs a plain `def` dependency on a worker thread, a thread hop (and
    # 9% of the server's request handling, profiled) for every request.
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    request: Request,
    services: ServicesDep,
    x_api_key: Annotated[str | None, Header()] = None,
    authorization: Annotated[str | None, Header()] = None,
) -> Principal:
    """The caller, counted against RATE_LIMIT_PER_MINUTE: every authenticated route is rate limited here
    (429 when over); /ok, /info and /metrics take no principal and are not."""
    key = x_api_key
    if key is None and authorization and authorization.lower().startswith("bearer "):
        key = authorization[7:].strip()
    principal = await services.keyring.authenticate(key)
    if services.rate_limiter is not None:
        # Left for RateLimitHeaders, which puts X-RateLimit-* on whatever response the route gives.
        request.state.rate_limit = await services.rate_limiter.admit(principal.user_id)
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_admin(request: Request, principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise Forbidden(
            f"{request.method} {request.url.path} needs an admin API key (ADMIN_API_KEYS, or an api_keys row with "
            f"is_admin); the key sent is {principal.user_id}'s, which is not an admin's"
        )
    return principal


AdminDep = Annotated[Principal, Depends(get_admin)]
