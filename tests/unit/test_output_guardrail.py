"""The output guardrail: no action claimed that no tool did, no personal data the user did not give, JSON as asked."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

import pytest

from guardrails.output import check
from llm.offline_rules import render_result, write_answer
from tools.base import ToolEnv
from tools.calc import CalculatorArgs, calculator
from tools.clock import GetTimeArgs, get_time
from tools.docs import SearchDocsArgs, search_docs
from tools.knowledge_base import default_knowledge_base

USER = "email alice@example.com a summary of the refund policy"


def obs(tool: str, status: str = "done", data: Any = None, error: str | None = None, **extra: Any) -> dict[str, Any]:
    ok = status == "done" and error is None
    return {"step": 0, "call_id": "c1", "tool": tool, "args": {}, "status": status, "ok": ok, "data": data,
            "error": error, **extra}  # fmt: skip


def sent(to: str = "alice@example.com", status: str = "queued") -> dict[str, Any]:
    return obs("send_email", data={"outbox_id": 7, "to": to, "subject": "Summary: refund policy", "status": status})


def ticket() -> dict[str, Any]:
    return obs("create_ticket", data={"ticket_id": 42, "status": "open", "priority": "normal", "title": "Broken zip"})


def run_check(answer: str, observations: list[dict[str, Any]], user: str = USER, **kwargs: Any):
    return check(answer, user_texts=[user], observations=observations, **kwargs)


# --- unbacked claims ------------------------------------------------------------------------------

CLAIMS = [
    ("I have sent the email to bob@example.com.", "no email was sent — no send_email call succeeded"),
    ("I've emailed Bob the summary.", "no email was sent"),
    ("I’ve gone ahead and sent it.", "no email was sent"),
    ("Email sent to bob@example.com.", "no email was sent"),
    ("Sent the summary to alice@example.com.", "no email was sent"),
    ("I forwarded your message to the warranty team.", "no email was sent"),
    ("We notified the warehouse.", "no email was sent"),
    ("The ticket has been created.", "no ticket was created — no create_ticket call succeeded"),
    ("I opened a support ticket for you.", "no ticket was created"),
    ("I filed a complaint with the carrier.", "no ticket was created"),
    ("I escalated the issue to the billing team.", "no ticket was created"),
    ("Your refund request was submitted.", "no ticket was created"),
    ("Your refund was processed.", "no refund was issued — no tool call in this run did that"),
    ("We have refunded $20 to your card.", "no refund was issued"),
    ("Your appointment has been booked for Monday.", "nothing was booked or scheduled"),
    ("The meeting was scheduled for 3 pm.", "nothing was booked or scheduled"),
    ("Your order has been cancelled.", "nothing was cancelled"),
    ("Your subscription has been canceled.", "nothing was cancelled"),
    ("Your account data was deleted.", "nothing was deleted"),
    ("I have updated your shipping address.", "nothing was updated"),
]


@pytest.mark.parametrize(("claim", "note"), CLAIMS)
def test_a_claimed_action_no_tool_did_is_replaced_by_a_plain_note(claim: str, note: str):
    verdict = run_check(f"Here is the refund policy. {claim} Anything else?", [])
    assert not verdict.blocked and verdict.flags == ("ungrounded_claim",)
    assert claim not in verdict.value
    assert verdict.value.startswith("Here is the refund policy. Anything else?\n\nNote: ")
    assert note in verdict.value


def test_claims_in_a_list_are_cut_item_by_item():
    answer = (
        "Here is what I did:\n\n- Searched the refund policy.\n- Emailed the summary to Bob.\n"
        "1. Opened ticket #7.\n\nAnything else?"
    )
    verdict = run_check(answer, [obs("search_docs", data={"passages": []})])
    assert verdict.value == (
        "Here is what I did:\n\n- Searched the refund policy.\n\nAnything else?\n\n"
        "Note: no email was sent — no send_email call succeeded in this run.\n"
        "Note: no ticket was created — no create_ticket call succeeded in this run."
    )


def test_a_claim_after_a_rejected_send_names_the_tool_that_did_not_succeed():
    rejected = obs("send_email", status="rejected", error="rejected by reviewer", feedback="wrong address")
    verdict = run_check("I have sent the summary to alice@example.com.", [rejected])
    assert verdict.value == "Note: no email was sent — no send_email call succeeded in this run."


@pytest.mark.parametrize(
    ("claim", "tool"),
    [
        ("I have sent the email to alice@example.com.", "send_email"),
        ("I have sent the email.", "notify_slack"),
        ("I have sent the email.", "post_message"),
        ("The ticket has been created.", "create_ticket"),
        ("I opened a case for you.", "open_case"),
        ("I escalated it to billing.", "escalate"),
        ("Your refund was processed.", "issue_refund"),
        ("Your meeting has been booked.", "calendar_create_event"),
        ("Your order has been cancelled.", "cancel_order"),
        ("Your data was deleted.", "delete_account"),
        ("I have updated your shipping address.", "update_address"),
    ],
)
def test_a_claim_backed_by_a_successful_tool_of_its_kind_stands(claim: str, tool: str):
    answer = f"Done. {claim}"
    verdict = run_check(answer, [obs(tool, data={"ok": 1})])
    assert verdict.value is answer and verdict.flags == ()


def test_a_failed_or_skipped_tool_backs_nothing():
    for failed in (obs("send_email", status="failed", error="timed out"), obs("send_email", status="skipped")):
        assert run_check("I have sent the email.", [failed]).flags == ("ungrounded_claim",)


def test_the_caller_can_say_which_claims_a_tool_backs():
    answer = "Your refund was processed."
    observations = [obs("stripe_payout", data={"id": "po_1"})]
    assert run_check(answer, observations).flags == ("ungrounded_claim",)
    assert run_check(answer, observations, tool_claims={"stripe_payout": {"refund"}}).value is answer


def test_only_the_unbacked_claim_is_noted_when_another_is_backed():
    answer = "Opened ticket #42 (normal priority): Broken zip.\n\nI have also emailed the warehouse."
    verdict = run_check(answer, [ticket()])
    assert verdict.value == (
        "Opened ticket #42 (normal priority): Broken zip.\n\n"
        "Note: no email was sent — no send_email call succeeded in this run."
    )


@pytest.mark.parametrize(
    "answer",
    [
        "I did not send the email.",
        "I haven't sent anything yet.",
        "The email was not sent because the reviewer rejected it.",
        "No email was sent.",
        "Nothing has been sent yet.",
        "Once approved, the email will be sent.",
        "Once your refund has been processed, you will receive an email.",
        "If the ticket was created, you will get an email with its number.",
        "Would you like me to send it?",
        "Was the ticket created?",
        "The email was queued but SMTP delivery failed.",
        "I created a summary of the refund policy below.",
        "I opened the refund policy document.",
        "Refunds are processed within 2 business days.",
        "We send a free replacement or a full refund, your choice.",
    ],
)
def test_negated_conditional_and_unrelated_sentences_are_not_claims(answer: str):
    verdict = run_check(answer, [])
    assert verdict.value is answer and verdict.flags == ()


def test_a_claim_quoted_from_the_user_or_a_tool_result_is_not_ours():
    title = "My order was cancelled without asking me"
    answer = f"Opened ticket #42 (normal priority): {title}."
    assert run_check(answer, [obs("create_ticket", data={"ticket_id": 42, "title": title})]).value is answer
    answer = "You wrote that your refund was processed last week; our documents say refunds take 2 days."
    assert run_check(answer, [], user="my refund was processed last week but nothing arrived").value is answer


def test_checking_a_corrected_answer_again_changes_nothing():
    first = run_check("I have sent the email.", [])
    again = run_check(first.value, [])
    assert again.value is first.value and again.flags == ()


# --- the offline model's real answers -------------------------------------------------------------

ENV = ToolEnv(idempotency_key="t")


async def observed(spec: Any, args: Any, step: int = 0) -> dict[str, Any]:
    result = await spec.fn(args, ENV)
    status = "done" if result.ok else "failed"
    return {"step": step, "call_id": f"c{step}", "tool": spec.name, "args": args.model_dump(), "status": status,
            "ok": result.ok, "data": result.data, "error": result.error}  # fmt: skip


async def test_the_offline_models_answers_pass_untouched():
    search = await observed(search_docs, SearchDocsArgs(query="refund policy"))
    total = await observed(calculator, CalculatorArgs(expression="(2+3)*4"), 1)
    clock = await observed(get_time, GetTimeArgs(timezone="Asia/Tokyo"), 2)
    rejected = {**sent(), "step": 3, "status": "rejected", "ok": False, "data": None, "error": "rejected by reviewer",
                "feedback": "I already emailed her myself"}  # fmt: skip
    smtp_failed = {**sent(status="failed"), "ok": False, "status": "failed",
                   "error": "email queued but SMTP delivery failed: 550 mailbox unavailable"}  # fmt: skip
    db_failed = obs("create_ticket", status="failed", error="create_ticket has no database configured; tell the user")
    runs = [
        [search, sent()],  # the email is queued for delivery
        [search, sent(status="sent")],  # and delivered over SMTP
        [search, rejected],
        [search, smtp_failed],
        [total, clock],
        [ticket(), db_failed],
        [db_failed],
        [],
    ]
    for observations in runs:
        for stop_reason in (None, "the step limit of 4 was reached"):
            answer = write_answer({"observations": observations, "stop_reason": stop_reason})
            verdict = run_check(answer, observations)
            assert (verdict.value, verdict.flags) == (answer, ()), answer
            assert verdict.value is answer


async def test_the_offline_models_ticket_answer_quoting_the_request_passes_untouched():
    title = "my order was cancelled and I was refunded twice"
    data = {"ticket_id": 42, "status": "open", "priority": "high", "title": title}
    observations = [obs("create_ticket", data=data)]
    answer = write_answer({"observations": observations})
    assert run_check(answer, observations, user=f"open a ticket: {title}").value is answer


def test_no_knowledge_base_passage_reads_as_a_claim():
    passages = default_knowledge_base().search("acme outfitters policy refund order email ticket", k=100)
    for passage in passages:
        observation = obs("search_docs", data={"passages": [asdict(passage)]})
        answer = render_result(observation)
        verdict = run_check(answer, [])  # even without the observation to quote from
        assert "ungrounded_claim" not in verdict.flags, answer


def test_the_organisations_own_address_can_be_kept():
    answer = "Email privacy@acme-outfitters.example to delete your data."
    assert run_check(answer, []).value == "Email [email redacted] to delete your data."
    assert run_check(answer, [], keep_emails=["privacy@acme-outfitters.example"]).value is answer


# --- personal data --------------------------------------------------------------------------------


def test_personal_data_is_redacted_but_the_users_own_address_kept():
    answer = "I emailed ALICE@example.com; Bob (bob@example.org, 415-555-0132) paid with 4111 1111 1111 1111."
    verdict = run_check(answer, [sent()])
    assert verdict.flags == ("pii",)
    assert (
        verdict.value
        == "I emailed ALICE@example.com; Bob ([email redacted], [phone redacted]) paid with [card redacted]."
    )


def test_a_corrected_claim_is_also_redacted():
    verdict = run_check("Email sent to bob@example.org. Call 415-555-0132 for help.", [])
    assert verdict.flags == ("ungrounded_claim", "pii")
    assert (
        verdict.value
        == "Call [phone redacted] for help.\n\nNote: no email was sent — no send_email call succeeded in this run."
    )


# --- JSON -----------------------------------------------------------------------------------------

OBJECT = {"type": "json_object"}
SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "refund",
        "schema": {
            "type": "object",
            "properties": {"days": {"type": "integer"}, "summary": {"type": "string"}},
            "required": ["days", "summary"],
            "additionalProperties": False,
        },
    },
}


def test_a_json_object_passes_as_it_is():
    answer = '{"days": 30, "summary": "Refunds within 30 days."}'
    for fmt in (OBJECT, SCHEMA):
        verdict = run_check(answer, [], response_format=fmt)
        assert verdict.value is answer and verdict.flags == ()


def test_text_formats_are_not_json():
    answer = "Refunds within 30 days."
    assert run_check(answer, [], response_format={"type": "text"}).value is answer


def test_a_fenced_json_object_is_unfenced():
    for fence in ("```json\n", "```\n", "```JSON \n"):
        answer = f'{fence}{{"days": 30, "summary": "ok"}}\n```'
        verdict = run_check(answer, [], response_format=SCHEMA)
        assert (verdict.value, verdict.flags) == ('{"days": 30, "summary": "ok"}', ("json_fence",))


@pytest.mark.parametrize(
    ("answer", "fmt", "detail"),
    [
        ("Refunds take 30 days.", OBJECT, "is not valid JSON (Expecting value at line 1 column 1)"),
        ('{"days": 30,}', OBJECT, "is not valid JSON"),
        ('Here you go: {"days": 30}', OBJECT, "is not valid JSON"),
        ("[1, 2]", OBJECT, "must be a JSON object ({...}), not a JSON array"),
        ('"thirty"', SCHEMA, "not a JSON string"),
        ("```python\n{}\n```", OBJECT, "is not valid JSON"),
        ('{"days": "30"}', SCHEMA, "at $.days: '30' is not of type 'integer'"),
        ('{"days": 30}', SCHEMA, "'summary' is a required property"),
        ('{"days": 30, "summary": "ok", "extra": 1}', SCHEMA, "Additional properties are not allowed"),
        ("[" * 100_000 + "]" * 100_000, OBJECT, "nested too deeply"),
    ],
)
def test_an_answer_that_is_not_the_json_asked_for_is_blocked_with_what_to_fix(answer: str, fmt: Any, detail: str):
    verdict = run_check(answer, [], response_format=fmt)
    assert verdict.blocked and verdict.guardrail == "output.invalid_json"
    assert detail in verdict.detail


def test_an_invalid_schema_fails_closed_and_says_it_is_the_callers():
    fmt = {"type": "json_schema", "json_schema": {"schema": {"type": "objekt"}}}
    verdict = run_check("{}", [], response_format=fmt)
    assert verdict.blocked and "schema is itself invalid" in verdict.detail


def test_a_remote_schema_reference_is_never_fetched_and_fails_closed():
    fmt = {"type": "json_schema", "json_schema": {"schema": {"$ref": "https://schemas.example/answer.json"}}}
    verdict = run_check("{}", [], response_format=fmt)
    assert verdict.blocked and "could not be applied" in verdict.detail


def test_strings_inside_json_are_redacted_and_grounded():
    answer = json.dumps({"status": "Email sent to bob@example.org.", "contact": ["alice@example.com", "415-555-0132"]})
    verdict = run_check(answer, [], response_format=OBJECT)
    assert verdict.flags == ("ungrounded_claim", "pii")
    assert json.loads(verdict.value) == {
        "status": "Note: no email was sent — no send_email call succeeded in this run.",
        "contact": ["alice@example.com", "[phone redacted]"],
    }


# --- size -----------------------------------------------------------------------------------------


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "unit",
    [
        "I have sent ",
        "email sent. ",
        "I created a x ",
        "\n- Emailed x",
        "\n1. ",
        "I ",
        "was ",
        "a@b.io ",
        "415-555-",
        "no ",
        ". ",
        "x",
        "I have " * 3 + "\n",
    ],
)
def test_a_megabyte_answer_is_checked_in_linear_time(unit: str):
    answer = unit * (1_000_000 // len(unit))
    observations = [obs("search_docs", data={"passages": [{"text": "email sent " * 50_000}]})]
    verdict = run_check(answer, observations)
    assert not verdict.blocked


@pytest.mark.timeout(10)
def test_a_megabyte_json_answer_is_checked_in_linear_time():
    answer = json.dumps({"items": ["I have sent the email to a@b.io. Call 415-555-0132."] * 20_000})
    verdict = run_check(answer, [], response_format=OBJECT)
    assert verdict.flags == ("ungrounded_claim", "pii")
