"""What LangGraph Studio's browser client sends: JSON labelled text/plain, and private-network preflights."""

from __future__ import annotations

import json

import httpx

from tests.e2e.conftest import KEYS

STUDIO = "https://smith.langchain.com"


async def test_json_sent_as_text_plain_is_read_as_json(base_url):
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        body = json.dumps({"metadata": {"from": "studio"}})
        response = await http.post("/threads", content=body, headers={"content-type": "text/plain;charset=UTF-8"})
    assert response.status_code == 200, response.text
    assert response.json()["metadata"]["from"] == "studio"


async def test_a_preflight_asking_for_private_network_access_is_allowed(base_url):
    async with httpx.AsyncClient(base_url=base_url) as http:
        response = await http.options(
            "/threads",
            headers={
                "origin": STUDIO,
                "access-control-request-method": "POST",
                "access-control-request-private-network": "true",
            },
        )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == STUDIO
    assert response.headers["access-control-allow-private-network"] == "true"
