"""Logs are one JSON event per line, carry run and thread ids, and never carry PII or secrets."""

from __future__ import annotations

import json
import logging

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
