"""The /store routes, driven by the real langgraph-sdk store client over HTTP against the real Postgres store.

The app here is a minimal one (the store router, the services it needs, the HandrailError handler) so that these
tests depend only on the store code; the full app wires the same router.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from langgraph.store.postgres.aio import AsyncPostgresStore
from langgraph_sdk import get_client
from langgraph_sdk.errors import UnprocessableEntityError

from handrail.api import store as store_api
from handrail.auth import Principal
from handrail.errors import HandrailError, Unauthorized
from tests.support.http import serving

KEYS = {
    "alice-key": Principal("alice"),
    "bob-key": Principal("bob"),
    "dotted-key": Principal("carol.smith"),  # a user id that is not a valid namespace label as it is
}


class FixedKeyRing:
    async def authenticate(self, api_key: str | None) -> Principal:
        if api_key not in KEYS:
            raise Unauthorized("unknown API key")
        return KEYS[api_key]


@dataclass
class StoreServices:
    store: AsyncPostgresStore
    keyring: FixedKeyRing
    rate_limiter: None = None  # get_principal counts requests when a limiter is set


def build_app(pool: object) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.services = StoreServices(store=AsyncPostgresStore(pool), keyring=FixedKeyRing())  # type: ignore[arg-type]
        yield

    app = FastAPI(lifespan=lifespan)
    app.include_router(store_api.router)

    @app.exception_handler(HandrailError)
    async def handrail_error(request: Request, exc: HandrailError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status_code)

    return app


@pytest.fixture(scope="module")
async def base_url(pool: object) -> AsyncIterator[str]:
    async with serving(build_app(pool)) as url:
        yield url


@pytest.fixture
def root() -> str:
    """A namespace root of this test's own, so that tests sharing the session database never meet."""
    return f"t{uuid.uuid4().hex[:12]}"


async def test_an_item_round_trips_through_put_get_search_list_and_delete(base_url: str, root: str) -> None:
    alice = get_client(url=base_url, api_key="alice-key")
    ns = [root, "notes"]

    await alice.store.put_item(ns, "k1", {"text": "likes tea", "n": 1})  # 204
    await alice.store.put_item([root, "notes", "deep"], "k2", {"text": "likes hiking", "n": 2}, index=False)

    item = await alice.store.get_item(ns, "k1")
    assert item is not None
    assert item["namespace"] == ns  # the owner prefix never shows
    assert item["key"] == "k1"
    assert item["value"] == {"text": "likes tea", "n": 1}
    assert isinstance(item["created_at"], str) and isinstance(item["updated_at"], str)

    found = await alice.store.search_items([root])
    assert sorted((i["key"], tuple(i["namespace"])) for i in found["items"]) == [
        ("k1", (root, "notes")),
        ("k2", (root, "notes", "deep")),
    ]
    assert all(i["score"] is None for i in found["items"])

    filtered = await alice.store.search_items([root], filter={"text": "likes hiking"})
    assert [i["key"] for i in filtered["items"]] == ["k2"]

    listed = await alice.store.list_namespaces(prefix=[root])
    assert listed["namespaces"] == [[root, "notes"], [root, "notes", "deep"]]
    shallow = await alice.store.list_namespaces(prefix=[root], max_depth=2)
    assert shallow["namespaces"] == [[root, "notes"]]
    by_suffix = await alice.store.list_namespaces(prefix=[root], suffix=["deep"])
    assert by_suffix["namespaces"] == [[root, "notes", "deep"]]

    await alice.store.put_item(ns, "k1", {"text": "likes coffee now"})
    replaced = await alice.store.get_item(ns, "k1")
    assert replaced is not None and replaced["value"] == {"text": "likes coffee now"}

    await alice.store.delete_item(ns, "k1")
    assert await alice.store.get_item(ns, "k1") is None


async def test_getting_a_missing_item_returns_none(base_url: str, root: str) -> None:
    alice = get_client(url=base_url, api_key="alice-key")
    assert await alice.store.get_item([root, "nothing"], "absent") is None


async def test_a_user_never_sees_or_changes_another_users_items(base_url: str, root: str) -> None:
    alice = get_client(url=base_url, api_key="alice-key")
    bob = get_client(url=base_url, api_key="bob-key")
    ns = [root, "private"]
    await bob.store.put_item(ns, "secret", {"pin": "1234"})

    assert await alice.store.get_item(ns, "secret") is None
    assert (await alice.store.search_items([root]))["items"] == []
    everything = await alice.store.search_items([], limit=1000)
    assert all(i["key"] != "secret" or i["namespace"] != ns for i in everything["items"])
    assert (await alice.store.list_namespaces(prefix=[root]))["namespaces"] == []
    assert ns not in (await alice.store.list_namespaces(limit=1000))["namespaces"]

    await alice.store.put_item(ns, "secret", {"pin": "0000"})  # alice's own item, same name
    await alice.store.delete_item(ns, "secret")
    bobs = await bob.store.get_item(ns, "secret")
    assert bobs is not None and bobs["value"] == {"pin": "1234"}
    assert [i["key"] for i in (await bob.store.search_items([root]))["items"]] == ["secret"]
    assert (await bob.store.list_namespaces(prefix=[root]))["namespaces"] == [ns]


async def test_a_suffix_matches_only_the_users_own_labels(base_url: str, root: str) -> None:
    alice = get_client(url=base_url, api_key="alice-key")
    await alice.store.put_item([root], "k", {"v": 1})
    assert (await alice.store.list_namespaces(suffix=[root]))["namespaces"] == [[root]]
    # Stored as ("users", "alice", root): a suffix reaching into that hidden prefix must not match.
    assert (await alice.store.list_namespaces(suffix=["alice", root]))["namespaces"] == []
    assert (await alice.store.list_namespaces(suffix=["*", root]))["namespaces"] == []


async def test_a_user_id_with_a_dot_still_owns_one_private_namespace(base_url: str, root: str) -> None:
    carol = get_client(url=base_url, api_key="dotted-key")
    await carol.store.put_item([root], "k", {"v": 1})
    item = await carol.store.get_item([root], "k")
    assert item is not None and item["namespace"] == [root]
    assert (await carol.store.list_namespaces(prefix=[root]))["namespaces"] == [[root]]


async def test_a_label_with_a_dot_or_an_empty_label_is_refused_with_422(base_url: str, root: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": "alice-key"}) as http:
        put = await http.put("/store/items", json={"namespace": [root, "a.b"], "key": "k", "value": {}})
        assert put.status_code == 422
        assert "'.'" in put.json()["detail"]

        get = await http.get("/store/items", params={"namespace": f"{root}..b", "key": "k"})
        assert get.status_code == 422
        assert "empty" in get.json()["detail"]

        search = await http.post("/store/items/search", json={"namespace_prefix": ["x.y"]})
        assert search.status_code == 422

        listed = await http.post("/store/namespaces", json={"prefix": [""]})
        assert listed.status_code == 422


async def test_a_value_that_is_not_an_object_is_refused_with_422(base_url: str, root: str) -> None:
    alice = get_client(url=base_url, api_key="alice-key")
    with pytest.raises(UnprocessableEntityError) as refused:
        await alice.store.put_item([root], "k", ["not", "an", "object"])  # type: ignore[arg-type]
    body = refused.value.response.json()
    assert isinstance(body["detail"], str)
    assert "JSON object" in body["detail"]
    assert await alice.store.get_item([root], "k") is None


async def test_a_query_without_an_embedding_index_is_answered_by_filter_and_says_so(base_url: str, root: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": "alice-key"}) as http:
        await http.put("/store/items", json={"namespace": [root], "key": "k", "value": {"text": "tea"}})
        res = await http.post("/store/items/search", json={"namespace_prefix": [root], "query": "what drinks?"})
        assert res.status_code == 200
        assert res.headers[store_api.SEARCH_MODE_HEADER] == "filter-only"
        assert [(i["key"], i["score"]) for i in res.json()["items"]] == [("k", None)]


async def test_an_unknown_api_key_is_refused(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": "mallory-key"}) as http:
        res = await http.get("/store/items", params={"namespace": "a", "key": "k"})
    assert res.status_code == 401
