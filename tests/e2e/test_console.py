"""The approval console in a real browser (Chromium through Playwright) against a real server with its own database, a
real SMTP sink and three keys (alice, bob, admin): what a reviewer sees and does, and what actually leaves.

Screenshots of the inbox, of one approval and of a user's memories are written to docs/screenshots/ (the README links
them)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client

from server import create_app
from tests.e2e.conftest import KEYS, e2e_settings
from tests.e2e.helpers import user
from tests.support.browser import chromium
from tests.support.db import fresh_database
from tests.support.http import serving
from tests.support.smtp_sink import Inbox, running_smtp_sink
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_MS = 10_000  # for what the page shows: a run pauses or finishes in well under a second here


@pytest.fixture(scope="module")
def sink() -> Iterator[Inbox]:
    with running_smtp_sink() as (inbox, port):
        inbox.port = port  # type: ignore[attr-defined]
        yield inbox


@pytest.fixture(scope="module")
async def base_url(sink: Inbox) -> AsyncIterator[str]:
    """A server of its own, delivering to the sink: the emails counted are exactly the ones this module sent."""
    with fresh_database("handrail_console") as dsn:
        port = sink.port  # type: ignore[attr-defined]
        settings = e2e_settings(dsn, smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False)
        async with serving(create_app(settings), port=settings.port) as url:
            yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    async with chromium() as launched:
        yield launched


@pytest.fixture
async def open_console(browser: Any, base_url: str) -> AsyncIterator[Any]:
    """open_console(user, width=1280): a page signed in with that user's key, on the inbox. A script error on any
    of them (an exception, or a resource refused by the Content-Security-Policy) fails the test."""
    contexts: list[Any] = []
    errors: list[str] = []

    async def signed_in(who: str, width: int = 1280, height: int = 900) -> Any:
        context = await browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{who}: {error}"))
        page.on("console", lambda m: errors.append(f"{who}: {m.text}") if m.type == "error" else None)
        await page.goto(f"{base_url}/console")
        await page.get_by_label("API key").fill(KEYS[who])
        await page.get_by_role("button", name="Sign in").click()
        await page.locator("#view-inbox").wait_for(state="visible", timeout=WAIT_MS)
        await page.locator("#live-text", has_text="Live").wait_for(timeout=WAIT_MS)
        return page

    yield signed_in
    for context in contexts:
        await context.close()
    # A refused request (the two reviewers' 409, another user's 404) is logged by the browser as a failed resource.
    unexpected = [e for e in errors if "the server responded with a status of 4" not in e]
    assert not unexpected, f"the console raised or logged errors: {unexpected}"


def email(to: str, subject: str) -> dict[str, Any]:
    args = {"to": to, "subject": subject, "body": f"Hello,\n\nour refund policy: {subject}.\n\nBest regards"}
    return user(f"call send_email with {json.dumps(args)}")


async def pause_run(base_url: str, who: str, to: str, subject: str) -> dict[str, Any]:
    """A run of `who` that asks to send an email and pauses for approval; its approval."""
    client = get_client(url=base_url, api_key=KEYS[who])
    tid = (await client.threads.create())["thread_id"]
    await client.runs.wait(tid, "agent", input=email(to, subject))
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS[who]}) as http:
        (approval,) = (await http.get("/approvals", params={"status": "pending", "thread_id": tid})).json()
    return approval


async def approval_now(base_url: str, approval_id: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["admin"]}) as http:
        return (await http.get(f"/approvals/{approval_id}")).json()


async def open_approval(page: Any, approval_id: str) -> None:
    await page.locator(f'[data-approval-id="{approval_id}"]').click()
    await page.locator("#decision-form").wait_for(timeout=WAIT_MS)


async def test_an_approval_appears_in_the_open_inbox_within_seconds_of_a_run_pausing(open_console, base_url):
    page = await open_console("alice")
    await page.evaluate("window.notReloaded = true")
    assert await page.locator("#inbox-empty").is_visible(), "an empty inbox says what will appear in it"

    approval = await pause_run(base_url, "alice", "dora@example.com", "Your refund")
    paused_at = time.monotonic()
    card = page.locator(f'[data-approval-id="{approval["approval_id"]}"]')
    await card.wait_for(timeout=WAIT_MS)
    seen_after_s = time.monotonic() - paused_at

    assert seen_after_s < 3, f"the approval reached the open inbox {seen_after_s:.1f} s after the run paused"
    assert await page.evaluate("window.notReloaded === true"), "it came over the live feed, without a reload"
    assert "send_email" in await card.inner_text() and "dangerous" in await card.inner_text()
    assert "expires in" in await card.inner_text() and "ago" in await card.inner_text()
    assert await page.locator("#inbox-count").inner_text() == "1"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "inbox.png"), full_page=True, animations="disabled", caret="hide")

    await page.get_by_label("Risk").select_option("read")
    assert not await card.is_visible() and await page.locator("#inbox-filtered").is_visible()
    await page.get_by_label("Risk").select_option("dangerous")
    await page.get_by_label("Tool").select_option("send_email")
    assert await card.is_visible()

    # Decided elsewhere (here: over the API): it leaves the open inbox, again without a reload.
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        await http.post(f"/approvals/{approval['approval_id']}", json={"decision": "reject", "feedback": "not now"})
    await card.wait_for(state="detached", timeout=WAIT_MS)
    assert await page.locator("#inbox-empty").is_visible()


async def test_an_edit_with_an_invalid_address_shows_the_error_and_sends_nothing(open_console, base_url, sink):
    page = await open_console("alice")
    approval = await pause_run(base_url, "alice", "erin@example.com", "Invalid edit")
    await open_approval(page, approval["approval_id"])

    # The browser checks the argument schema's pattern before anything is sent.
    await page.get_by_label("To", exact=True).fill("erin at example")
    await page.get_by_role("button", name="Approve with my edits").click()
    assert "must match" in await page.locator("#arg-to-error").inner_text()
    assert await page.get_by_label("To", exact=True).get_attribute("aria-invalid") == "true"

    # And the server checks again: an address changed on its way (as a client without the form's checks would send
    # it) is refused, and its error lands next to the field.
    async def corrupt(route: Any) -> None:
        body = json.loads(route.request.post_data)
        body["args"]["to"] = "erin at example"
        await route.continue_(post_data=json.dumps(body))

    await page.route(f"**/approvals/{approval['approval_id']}", corrupt)
    await page.get_by_label("To", exact=True).fill("erin@example.org")
    await page.get_by_role("button", name="Approve with my edits").click()
    await page.locator("#arg-to-error", has_text="Server:").wait_for(timeout=WAIT_MS)

    assert "should match pattern" in await page.locator("#arg-to-error").inner_text()
    assert (await approval_now(base_url, approval["approval_id"]))["status"] == "pending"
    assert sink.to("erin@example.com") == [] and sink.to("erin@example.org") == [] and sink.to("erin at example") == []


async def test_a_valid_edit_sends_exactly_one_email_with_the_edited_arguments(open_console, base_url, sink):
    page = await open_console("alice")
    approval = await pause_run(base_url, "alice", "frank@example.com", "Planned subject")
    await open_approval(page, approval["approval_id"])
    email_preview = page.get_by_role("group", name="Email preview")
    assert "frank@example.com" in await email_preview.inner_text()
    assert "refund policy" in await page.locator("#approval-body").inner_text(), "the conversation is shown"
    await page.screenshot(path=str(SCREENSHOTS / "approval.png"), full_page=True, animations="disabled", caret="hide")

    await page.get_by_label("To", exact=True).fill("grace@example.com")
    await page.get_by_label("Subject").fill("Edited subject")
    assert "grace@example.com" in await email_preview.inner_text(), "the preview follows the edit"
    await page.get_by_role("button", name="Approve with my edits").click()
    answer = page.locator("#final-answer")
    await answer.wait_for(timeout=WAIT_MS)

    assert "grace@example.com" in await answer.inner_text()
    assert await page.locator("#approval-status").inner_text() == "edited"
    assert "grace@example.com" in await page.locator("#steps").inner_text(), "the steps now include the sent email"
    (sent,) = sink.to("grace@example.com")
    assert sent.subject == "Edited subject" and "refund policy" in sent.body
    assert sink.to("frank@example.com") == []
    decided = await approval_now(base_url, approval["approval_id"])
    assert decided["status"] == "edited" and decided["decided_by"] == "alice"
    assert decided["decided_args"]["to"] == "grace@example.com"


async def test_a_rejection_with_feedback_appears_in_the_final_answer(open_console, base_url, sink):
    page = await open_console("alice")
    approval = await pause_run(base_url, "alice", "heidi@example.com", "Rejected")
    await open_approval(page, approval["approval_id"])

    await page.get_by_label("Feedback for the agent").fill("we never email customers on a Sunday")
    await page.get_by_role("button", name="Reject", exact=True).click()
    answer = page.locator("#final-answer")
    await answer.wait_for(timeout=WAIT_MS)

    assert "we never email customers on a Sunday" in await answer.inner_text()
    assert sink.to("heidi@example.com") == []
    assert (await approval_now(base_url, approval["approval_id"]))["status"] == "rejected"


async def test_two_reviewers_deciding_the_same_approval_one_wins_the_other_sees_who(open_console, base_url, sink):
    approval = await pause_run(base_url, "alice", "ivan@example.com", "Two reviewers")
    pages = {"alice": await open_console("alice"), "admin": await open_console("admin")}
    for page in pages.values():
        await open_approval(page, approval["approval_id"])

    # Both press Approve at once (a script click: the loser's panel may already be gone, replaced by the news).
    await asyncio.gather(*(p.evaluate("document.getElementById('approve').click()") for p in pages.values()))
    decided = await eventually(lambda: _decided(base_url, approval["approval_id"]), within_s=WAIT_MS / 1000)
    winner = decided["decided_by"]
    loser = next(who for who in pages if who != winner)
    await pages[winner].locator("#decision-area", has_text="Your decision was recorded").wait_for(timeout=WAIT_MS)
    await pages[loser].locator("#decision-area", has_text=f"Already decided by {winner}").wait_for(timeout=WAIT_MS)
    assert await pages[loser].locator("#approval-status").inner_text() == "approved"
    assert not await pages[loser].get_by_role("button", name="Approve as planned").is_visible()
    await pages[winner].locator("#final-answer").wait_for(timeout=WAIT_MS)
    assert len(sink.to("ivan@example.com")) == 1


async def _decided(base_url: str, approval_id: str) -> dict[str, Any] | None:
    row = await approval_now(base_url, approval_id)
    return row if row["status"] != "pending" else None


async def test_a_key_of_another_user_sees_nothing(open_console, base_url):
    bobs = await open_console("bob", width=390, height=844)  # a phone-sized screen
    alices = await open_console("alice")
    approval = await pause_run(base_url, "alice", "judy@example.com", "Not for bob")
    await alices.locator(f'[data-approval-id="{approval["approval_id"]}"]').wait_for(timeout=WAIT_MS)

    assert await bobs.locator("#inbox-list li").count() == 0 and await bobs.locator("#inbox-empty").is_visible()
    await bobs.goto(f"{base_url}/console#/approvals/{approval['approval_id']}")
    await bobs.locator("#view-missing").wait_for(state="visible", timeout=WAIT_MS)
    await bobs.goto(f"{base_url}/console#/threads/{approval['thread_id']}")
    await bobs.locator("#missing-text", has_text="No thread").wait_for(timeout=WAIT_MS)


async def test_a_user_sees_and_deletes_what_the_agent_remembers_and_an_admin_sees_anyones(open_console, base_url):
    finance, short_answers = "always send summaries to finance@acme.test", "I prefer short answers"
    alice = get_client(url=base_url, api_key=KEYS["alice"])
    for fact in (finance, short_answers):
        thread = await alice.threads.create()
        await alice.runs.wait(thread["thread_id"], "agent", input=user(f"remember that {fact}"))
    alices, bobs, admins = [await open_console(who) for who in ("alice", "bob", "admin")]

    await alices.get_by_role("link", name="Memories").click()
    await alices.locator("#memories-list li", has_text=short_answers).wait_for(timeout=WAIT_MS)
    assert await alices.locator("#memories-list li").count() == 2
    assert not await alices.locator("#memories-user").is_visible(), "only an admin may ask for another user's"
    await alices.screenshot(path=SCREENSHOTS / "memories.png")
    await bobs.get_by_role("link", name="Memories").click()
    await bobs.locator("#memories-empty").wait_for(state="visible", timeout=WAIT_MS)
    await admins.get_by_role("link", name="Memories").click()
    await admins.get_by_label("User").fill("alice")
    await admins.get_by_role("button", name="Show").click()
    await admins.locator("#memories-title", has_text="for alice").wait_for(timeout=WAIT_MS)
    await admins.locator("#memories-list li", has_text=finance).wait_for(timeout=WAIT_MS)

    await alices.get_by_role("button", name=f"Delete: {finance}").click()
    await alices.locator("#memories-list li", has_text=finance).wait_for(state="detached", timeout=WAIT_MS)
    async with httpx.AsyncClient(base_url=base_url, headers={"x-api-key": KEYS["alice"]}) as http:
        kept = (await http.get("/memories")).json()["memories"]
    assert [m["text"] for m in kept] == [short_answers]


async def test_the_key_stays_out_of_urls_and_a_wrong_key_is_refused(browser, base_url):
    context = await browser.new_context()
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.goto(f"{base_url}/console")
    await page.get_by_label("API key").fill("not-a-key")
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#signin-error", has_text="not accepted").wait_for(timeout=WAIT_MS)
    await page.get_by_label("API key").fill(KEYS["alice"])
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#view-inbox").wait_for(state="visible", timeout=WAIT_MS)

    assert not any(KEYS["alice"] in url or "not-a-key" in url for url in requested)
    assert await page.evaluate("sessionStorage.getItem('handrail.apiKey')") == KEYS["alice"]
    await context.close()


async def test_the_thread_timeline_shows_each_run_its_tool_calls_and_who_decided(open_console, base_url):
    page = await open_console("alice")
    approval = await pause_run(base_url, "alice", "kim@example.com", "Timeline")
    await open_approval(page, approval["approval_id"])
    await page.get_by_role("button", name="Approve as planned").click()
    await page.locator("#final-answer").wait_for(timeout=WAIT_MS)

    await page.goto(f"{base_url}/console#/threads/{approval['thread_id']}")
    body = page.locator("#thread-body")
    await body.locator(".run").nth(1).wait_for(timeout=WAIT_MS)
    text = await body.inner_text()
    assert "tool send_email" in text and "send_email approved by alice" in text and "ms" in text
    assert "null" not in text and "undefined" not in text
    assert "approve (paused)" in text and "synthesize" in text, "each node the runs went through"


async def test_in_dev_mode_the_console_opens_without_sign_in_and_works_from_the_keyboard(browser):
    with fresh_database("handrail_console_dev") as dsn:
        settings = e2e_settings(dsn, api_keys=None, admin_api_keys=None)  # no keys: dev mode, as the API is
        async with serving(create_app(settings), port=settings.port) as url:
            context = await browser.new_context()
            page = await context.new_page()
            await page.goto(f"{url}/console")
            await page.locator("#live-text", has_text="Live").wait_for(timeout=WAIT_MS)
            assert await page.locator("#view-inbox").is_visible()
            assert not await page.locator("#view-signin").is_visible(), "no sign-in without keys"
            assert "Dev mode" in await page.locator("#identity").inner_text()

            client = get_client(url=url)
            tid = (await client.threads.create())["thread_id"]
            await client.runs.wait(tid, "agent", input=email("lena@example.com", "Keyboard"))
            card = page.locator(".card").first
            await card.wait_for(timeout=WAIT_MS)
            await card.focus()
            await page.keyboard.press("Enter")
            await page.locator("#decision-form").wait_for(timeout=WAIT_MS)
            assert await page.evaluate("document.activeElement.id") == "approval-title", "focus moves to the page"
            await page.get_by_role("button", name="Approve as planned").focus()
            await page.keyboard.press("Enter")
            await page.locator("#final-answer").wait_for(timeout=WAIT_MS)
            assert "lena@example.com" in await page.locator("#final-answer").inner_text()
            await context.close()


async def test_a_run_that_pauses_again_leads_the_reviewer_to_the_next_approval(open_console, base_url, sink):
    calls = [{"to": f"{who}@example.com", "subject": "Two emails", "body": f"Hello {who}"} for who in ("mia", "noah")]
    client = get_client(url=base_url, api_key=KEYS["alice"])
    tid = (await client.threads.create())["thread_id"]
    text = " then ".join(f"call send_email with {json.dumps(c)}" for c in calls)
    await client.runs.wait(tid, "agent", input=user(text))
    page = await open_console("alice")
    await page.goto(f"{base_url}/console#/threads/{tid}")
    await page.locator("#thread-body a", has_text="send_email").first.click()
    await page.locator("#decision-form").wait_for(timeout=WAIT_MS)

    await page.get_by_role("button", name="Approve as planned").click()
    await page.get_by_role("link", name="send_email waits for a decision →").click()
    await page.locator("#decision-form").wait_for(timeout=WAIT_MS)

    assert "noah@example.com" in await page.get_by_role("group", name="Email preview").inner_text()
    assert len(sink.to("mia@example.com")) == 1 and sink.to("noah@example.com") == []
