"""API keys → principals. Every record belongs to a user; another user's ids answer 404."""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

from handrail.db import Pool
from handrail.errors import ConfigurationError, Unauthorized
from handrail.settings import Settings

logger = logging.getLogger("handrail.auth")

DEV_USER = "local-dev"


@dataclass(frozen=True)
class Principal:
    user_id: str
    is_admin: bool = False

    def owns(self, owner: str | None) -> bool:
        return self.is_admin or owner is None or owner == self.user_id


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _pairs(raw: str | None, *, admin: bool) -> dict[str, Principal]:
    found: dict[str, Principal] = {}
    for item in filter(None, (p.strip() for p in (raw or "").split(","))):
        key, sep, user = item.rpartition(":")
        if not sep or not key or not user:
            raise ConfigurationError(f"API key entries must look like `key:user_id`; got one without `:` ({item[:4]}…)")
        found[hash_key(key)] = Principal(user, is_admin=admin)
    return found


class KeyRing:
    """Keys from settings plus the api_keys table; with neither, the server is in dev mode."""

    def __init__(self, settings: Settings, pool: Pool, *, table_has_keys: bool) -> None:
        secret = settings.api_keys.get_secret_value() if settings.api_keys else None
        admin = settings.admin_api_keys.get_secret_value() if settings.admin_api_keys else None
        self._static = {**_pairs(secret, admin=False), **_pairs(admin, admin=True)}
        self._pool = pool
        self.dev_mode = not self._static and not table_has_keys

    @classmethod
    async def load(cls, settings: Settings, pool: Pool) -> KeyRing:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT count(*) AS n FROM api_keys WHERE revoked_at IS NULL")).fetchone()
        ring = cls(settings, pool, table_has_keys=bool(row and row["n"]))
        if ring.dev_mode:
            if not _is_loopback(settings.host) and not settings.allow_unauthenticated:
                raise ConfigurationError(
                    f"no API keys are configured and HOST={settings.host} is reachable from other machines; "
                    "set API_KEYS (or add rows to api_keys), or set ALLOW_UNAUTHENTICATED=true to accept the risk"
                )
            logger.warning("auth.dev_mode", extra={"detail": f"no API keys configured: every request is {DEV_USER}"})
        return ring

    async def authenticate(self, api_key: str | None) -> Principal:
        if self.dev_mode:
            return Principal(DEV_USER, is_admin=True)  # the SDK may send a key anyway; it is ignored
        if not api_key:
            raise Unauthorized("missing API key: send it as `x-api-key` or `Authorization: Bearer <key>`")
        digest = hash_key(api_key)
        if digest in self._static:
            return self._static[digest]
        async with self._pool.connection() as conn:
            row = await (
                await conn.execute(
                    "SELECT user_id, is_admin FROM api_keys WHERE key_hash = %s AND revoked_at IS NULL", (digest,)
                )
            ).fetchone()
        if row is None:
            raise Unauthorized("unknown or revoked API key")
        return Principal(row["user_id"], is_admin=row["is_admin"])


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
