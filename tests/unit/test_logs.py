"""Logs are one JSON event per line, carry run and thread ids, and never carry PII or secrets."""

from __future__ import annotations

import json
import logging

import pytest

from handrail.logs import JsonFormatter, redact, run_id_var, thread_id_var


def render(message: str, **extra: object) -> dict:
    record = logging.makeLogRecord({"name": "handrail.test", "levelname": "INFO", "msg": message, **extra})
    return json.loads(JsonFormatter().format(record))


def test_an_event_is_json_with_the_ids_bound_in_context():
    run_token, thread_token = run_id_var.set("run-1"), thread_id_var.set("thread-9")
    try:
        event = render("tool.finished", tool="calculator", ms=1.5)
    finally:
        run_id_var.reset(run_token)
        thread_id_var.reset(thread_token)
    assert event["event"] == "tool.finished" and event["level"] == "info"
    assert (event["run_id"], event["thread_id"], event["tool"], event["ms"]) == ("run-1", "thread-9", "calculator", 1.5)


def test_email_addresses_are_masked_and_secret_fields_dropped():
    event = render(
        "sent to alice@example.com",
        recipient="bob.smith@example.org",
        api_key="sk-live-123",
        detail={"password": "hunter2", "to": ["carol@example.net"]},
    )
    assert event["event"] == "sent to a***@example.com"
    assert event["recipient"] == "b***@example.org"
    assert event["api_key"] == "***"
    assert event["detail"] == {"password": "***", "to": ["c***@example.net"]}
    assert "hunter2" not in json.dumps(event) and "sk-live-123" not in json.dumps(event)


def test_redact_leaves_other_values_alone():
    assert redact({"n": 3, "ok": True, "text": "no address here"}) == {"n": 3, "ok": True, "text": "no address here"}


def test_phone_card_ssn_and_key_in_text_are_masked_too():
    event = render(
        "card 4111 1111 1111 1111 declined for 415-555-0132",
        note="ssn 123-45-6789, key sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w",
        call={"to": "alice@example.com", "body": "call +44 20 7946 0958"},
    )
    assert event["event"] == "card [card redacted] declined for [phone redacted]"
    assert event["note"] == "ssn [ssn redacted], key [secret redacted]"
    assert event["call"] == {"to": "a***@example.com", "body": "call [phone redacted]"}


def test_ids_dates_and_durations_are_not_mistaken_for_personal_data():
    value = {"run": "6f1c2a44-8d0e-4c2e-9a41-1f2b3c4d5e6f", "at": "2026-11-29T10:00:00Z", "ticket": "TCK-000123"}
    assert redact(value) == value


@pytest.mark.timeout(10)
def test_a_megabyte_word_before_an_at_sign_is_read_in_linear_time():
    text = "a" * 1_000_000 + "@example.com"  # the pattern this replaced rescanned it from every "a": O(n^2)
    assert redact(text) == text  # a local part longer than 64 characters is no address (RFC 5321)
