"""API keys, table keys, and the guarded dev mode."""

from __future__ import annotations

import uuid

import pytest

from handrail.auth import DEV_USER, KeyRing, Principal, hash_key
from handrail.errors import ConfigurationError, Unauthorized
from handrail.settings import Settings


async def test_dev_mode_refuses_to_listen_beyond_loopback_unless_told_to(pool):
    with pytest.raises(ConfigurationError, match="ALLOW_UNAUTHENTICATED"):
        await KeyRing.load(Settings(host="0.0.0.0"), pool)
    ring = await KeyRing.load(Settings(host="0.0.0.0", allow_unauthenticated=True), pool)
    assert ring.dev_mode
    assert await ring.authenticate("any key is ignored") == Principal(DEV_USER, is_admin=True)


async def test_configured_keys_map_to_users_and_unknown_keys_are_refused(pool):
    ring = await KeyRing.load(Settings(api_keys="k1:alice", admin_api_keys="root:ops"), pool)
    assert await ring.authenticate("k1") == Principal("alice")
    assert await ring.authenticate("root") == Principal("ops", is_admin=True)
    with pytest.raises(Unauthorized):
        await ring.authenticate("k2")
    with pytest.raises(Unauthorized):
        await ring.authenticate(None)


async def test_keys_in_the_table_are_stored_hashed_and_can_be_revoked(pool):
    key = f"table-{uuid.uuid4().hex}"
    async with pool.connection() as conn:
        await conn.execute("INSERT INTO api_keys (key_hash, user_id) VALUES (%s, 'carol')", (hash_key(key),))
    try:
        ring = await KeyRing.load(Settings(), pool)
        assert not ring.dev_mode, "a key in the table turns dev mode off"
        assert await ring.authenticate(key) == Principal("carol")
        async with pool.connection() as conn:
            await conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = %s", (hash_key(key),))
        with pytest.raises(Unauthorized, match="revoked"):
            await ring.authenticate(key)
    finally:
        async with pool.connection() as conn:
            await conn.execute("DELETE FROM api_keys WHERE key_hash = %s", (hash_key(key),))


def test_malformed_key_settings_fail_at_start_up_without_echoing_the_key():
    with pytest.raises(ConfigurationError) as refused:
        KeyRing(Settings(api_keys="supersecretvalue"), pool=None, table_has_keys=False)  # type: ignore[arg-type]
    assert "supersecretvalue" not in str(refused.value)
