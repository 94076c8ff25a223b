"""PII redaction: each kind is replaced by its marker; dates, amounts, ids and arithmetic are left alone."""

from __future__ import annotations

import pytest

from guardrails.pii import redact, redact_value


def redacted(text: str, **kwargs: object) -> str:
    return redact(text, **kwargs)[0]  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected", "kinds"),
    [
        ("mail alice@example.com today", "mail [email redacted] today", ("email",)),
        ("to Bob.Smith+news@mail.example.co.uk.", "to [email redacted].", ("email",)),
        ("call +44 20 7946 0958 now", "call [phone redacted] now", ("phone",)),
        ("call +442079460958", "call [phone redacted]", ("phone",)),
        ("call +1 (415) 555-0132", "call [phone redacted]", ("phone",)),
        ("call (415) 555-0132", "call [phone redacted]", ("phone",)),
        ("call 415-555-0132.", "call [phone redacted].", ("phone",)),
        ("call 415.555.0132 or 1-800-555-0199", "call [phone redacted] or [phone redacted]", ("phone",)),
        ("card 4111 1111 1111 1111", "card [card redacted]", ("card",)),
        ("card 4111-1111-1111-1111, thanks", "card [card redacted], thanks", ("card",)),
        ("card 4111111111111111", "card [card redacted]", ("card",)),
        ("amex 3782 822463 10005", "amex [card redacted]", ("card",)),
        ("card 4111 1111 1111 1111 2027", "card [card redacted] 2027", ("card",)),
        ("ssn 123-45-6789", "ssn [ssn redacted]", ("ssn",)),
    ],
)
def test_each_kind_is_replaced_by_its_marker(text: str, expected: str, kinds: tuple[str, ...]):
    assert redact(text) == (expected, kinds)


@pytest.mark.parametrize(
    "secret",
    [
        "sk-abcdefghijklmnopqrstuvwxyz0123456789",
        "sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w",
        "sk-ant-api03-Ab3dEf6hIj9kLm2nOp5qRs8tUv1w",
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
        "xoxb-1234567890-abcdefghij",
        "xoxp-1234567890-1234567890-abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "AIzaSyA-abcdefghijklmnopqrstuvwxyz12345",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.abcdefghij123456",
    ],
)
def test_api_keys_are_secrets(secret: str):
    assert redact(f"use {secret} here") == ("use [secret redacted] here", ("secret",))


def test_credentials_after_their_names_are_secrets():
    assert redacted("Authorization: Bearer abc123def456ghi789") == "Authorization: Bearer [secret redacted]"
    assert redacted("Authorization: Basic dXNlcjpwYXNz") == "Authorization: Basic [secret redacted]"
    assert redacted("curl -H 'bearer 9f8e7d6c5b4a39281706'") == "curl -H 'bearer [secret redacted]'"
    assert redacted("password: hunter2.") == "password: [secret redacted]."
    assert redacted("api key: 3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c.") == "api key: [secret redacted]."
    assert redacted("the token is AbC123xYz789QwErTy456UiOp") == "the token is [secret redacted]"
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\n-----END RSA PRIVATE KEY-----"
    assert redacted(f"key:\n{key}\nafter") == "key:\n[secret redacted]\nafter"
    assert redacted("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk") == "[secret redacted]"


@pytest.mark.parametrize(
    "text",
    [
        "It is 2026-11-29T10:00:00+09:00 in Asia/Tokyo (Sunday).",
        "Delivered on 2026-11-29 at 12:30:45; 11/29/2026.",
        "The total is $1,234.56 and 1.234.567,89 EUR.",
        "Ticket TCK-000123 and order 4815162342 and order #1125899906842624.",
        "Version 10.0.19041 and 1.2.3; IP 192.168.1.1 and 10.0.0.255.",
        "2+2 = 4. 20. 3.14159. 2**50 = 1125899906842624. 100 200 3000.",
        "4111 1111 1111 1112 fails Luhn; so does 4111111111111112.",
        "000-12-3456 666-12-3456 912-34-5678 123-00-4567 123-45-0000",
        "Orders between $50 and $1,000 are paid in 4 installments within 3-5 business days, 8:00 to 20:00.",
        "+15 degrees, +20% growth, 1+1=2, 3 + 4 5 6 7",
        "the bearer instrument; the key point is internationalization; token passing",
        "Passwords must be at least 12 characters long.",
    ],
)
def test_numbers_that_are_not_personal_data_stay(text: str):
    assert redact(text) == (text, ())


def test_emails_the_user_gave_are_kept_in_any_case():
    text = "from alice@example.com to Bob@Example.com, cc carol@example.net"
    assert redact(text, keep=["bob@example.COM", "alice@example.com"]) == (
        "from alice@example.com to Bob@Example.com, cc [email redacted]",
        ("email",),
    )


def test_kinds_are_reported_once_each_in_a_fixed_order():
    text = "sk-abcdefghijklmnopqrstuvwxyz0123 123-45-6789 415-555-0132 a@b.io x@y.io"
    assert redact(text)[1] == ("email", "phone", "ssn", "secret")


def test_redaction_is_idempotent():
    once = redacted("a@b.io, 415-555-0132, 4111 1111 1111 1111, 123-45-6789, sk-abcdefghijklmnopqrstuvwxyz0123")
    assert redact(once) == (once, ())


def test_values_are_walked_through_dicts_lists_and_tuples():
    value = {"to": ["a@b.io"], "meta": ("415-555-0132", 3), "n": 1.5, "ok": True, "a@b.io": None}
    assert redact_value(value, keep=()) == {
        "to": ["[email redacted]"],
        "meta": ("[phone redacted]", 3),
        "n": 1.5,
        "ok": True,
        "a@b.io": None,
    }


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "unit",
    ["a", "a@", "a.", "1", "1 ", "1-", "+1 ", "+44 20 ", "415-555-", "123-45-", "(415) ", "4111 ", "key: ",
     "password:", "bearer ", "sk-", "eyJaaaaaaaaa.", "-----BEGIN RSA PRIVATE KEY-----", "a" * 70 + "@", "b."],
)  # fmt: skip
def test_a_megabyte_of_adversarial_text_is_redacted_in_linear_time(unit: str):
    text = unit * (1_000_000 // len(unit)) + "x"
    redacted_text, _ = redact(text)
    assert len(redacted_text) <= len(text)
