"""The read-only tools: knowledge-base search, calculator and clock."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from tools.base import ToolEnv
from tools.calc import CalcError, CalculatorArgs, calculator, evaluate, normalize
from tools.clock import GetTimeArgs, get_time
from tools.docs import SearchDocsArgs, search_docs
from tools.knowledge_base import KnowledgeBase, default_knowledge_base, tokenize

ENV = ToolEnv(idempotency_key="t")


async def calc(expression: str):
    return await calculator.fn(CalculatorArgs(expression=expression), ENV)


# --- knowledge base -------------------------------------------------------------------------------


def test_tokenize_folds_inflections_identically():
    assert tokenize("Refunds for the shipping") == ["refund", "ship"]
    assert tokenize("refunded shipped") == tokenize("refund ship")


def test_bundled_knowledge_base_has_eight_documents_and_is_cached():
    kb = default_knowledge_base()
    assert kb is default_knowledge_base()
    sources = {p.source for p in kb.search("acme outfitters policy", k=100)}
    assert len(sources) == 8


@pytest.mark.asyncio
async def test_refund_window_question_ranks_refunds_first():
    result = await search_docs.fn(SearchDocsArgs(query="How many days is the refund window?"), ENV)
    assert result.ok
    passages = result.data["passages"]
    assert passages[0]["source"] == "refunds.md"
    assert "30 days" in passages[0]["text"]
    assert set(passages[0]) == {"source", "title", "section", "text", "score"}
    assert [p["score"] for p in passages] == sorted((p["score"] for p in passages), reverse=True)


@pytest.mark.asyncio
async def test_escalation_priorities_are_found():
    result = await search_docs.fn(SearchDocsArgs(query="urgent priority response time", k=1), ENV)
    assert result.ok and len(result.data["passages"]) == 1
    assert result.data["passages"][0]["source"] == "escalation.md"


@pytest.mark.asyncio
async def test_unmatched_query_is_ok_with_no_passages_and_a_note():
    result = await search_docs.fn(SearchDocsArgs(query="zebra quantum xylophone"), ENV)
    assert result.ok
    assert result.data["passages"] == []
    assert "other words" in result.data["note"]


def test_more_query_term_hits_rank_higher(tmp_path: Path):
    (tmp_path / "a.md").write_text("# Gear\n\n## Poles\n\nTent poles bend. A tent pole can snap.\n")
    (tmp_path / "b.md").write_text("# Camp\n\n## Sites\n\nPitch the tent on flat ground and keep each pole dry.\n")
    (tmp_path / "c.md").write_text("# Food\n\n## Stoves\n\nCook on a stove, never inside.\n")
    kb = KnowledgeBase.from_folder(tmp_path)

    hits = kb.search("tent pole", k=5)

    assert [p.source for p in hits] == ["a.md", "b.md"]  # c.md shares no term, so it is left out
    assert hits[0].score > hits[1].score > 0
    assert (hits[0].title, hits[0].section) == ("Gear", "Poles")


def test_search_is_deterministic_on_ties(tmp_path: Path):
    for name in ("b.md", "a.md"):
        (tmp_path / name).write_text("# Same\n\n## Same\n\nIdentical text about tents.\n")
    hits = KnowledgeBase.from_folder(tmp_path).search("tents")
    assert [p.source for p in hits] == ["a.md", "b.md"]
    assert hits[0].score == hits[1].score


# --- calculator -----------------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("(2+3)*4", 20),
        ("2^10", 1024),
        ("15% of 80", 12),
        ("20%", 0.2),
        ("10 % 3", 1),
        ("3 x 4", 12),
        ("3 × 4", 12),
        ("sqrt(16) + abs(-2) + max(1, 5) - min(1, 5)", 10),
        ("round(7/3, 2)", 2.33),
        ("0.1 + 0.2", 0.3),
    ],
)
async def test_calculator_computes(expression: str, expected: float):
    result = await calc(expression)
    assert result.ok, result.error
    assert result.data == {"expression": expression, "result": expected}


@pytest.mark.asyncio
async def test_calculator_keeps_whole_results_as_ints():
    assert isinstance((await calc("(2+3)*4")).data["result"], int)
    assert isinstance((await calc("10/2")).data["result"], int)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "not allowed"),
        ("9**9**9", "exponent"),
        ("1/0", "division by zero"),
        ("10**200", "1e100"),
        ("(-8)**(1/3)", "no real result"),
        ("(1+2", "could not parse"),
    ],
)
async def test_calculator_refuses_with_a_readable_error(expression: str, reason: str):
    result = await calc(expression)
    assert not result.ok
    assert reason in result.error


# --- clock ----------------------------------------------------------------------------------------

FIXED = datetime(2024, 3, 15, 3, 30, tzinfo=UTC)  # a Friday
FIXED_ENV = ToolEnv(idempotency_key="t", extras={"now": lambda: FIXED})


@pytest.mark.asyncio
async def test_get_time_uses_the_injected_clock_and_zone():
    result = await get_time.fn(GetTimeArgs(timezone="Asia/Tokyo"), FIXED_ENV)
    assert result.ok
    assert result.data == {
        "timezone": "Asia/Tokyo",
        "iso": "2024-03-15T12:30:00+09:00",
        "weekday": "Friday",
        "utc_offset": "+09:00",
    }


@pytest.mark.asyncio
async def test_get_time_defaults_to_utc_and_handles_negative_offsets():
    utc = await get_time.fn(GetTimeArgs(), FIXED_ENV)
    assert utc.data["iso"] == "2024-03-15T03:30:00+00:00"
    new_york = await get_time.fn(GetTimeArgs(timezone="America/New_York"), FIXED_ENV)
    assert new_york.data["utc_offset"] == "-04:00"
    assert new_york.data["weekday"] == "Thursday"


@pytest.mark.asyncio
async def test_get_time_without_injected_clock_returns_an_aware_time():
    result = await get_time.fn(GetTimeArgs(timezone="Europe/Paris"), ENV)
    assert result.ok
    assert datetime.fromisoformat(result.data["iso"]).tzinfo is not None


@pytest.mark.asyncio
async def test_get_time_fails_cleanly_on_unknown_zone():
    result = await get_time.fn(GetTimeArgs(timezone="Mars/Base"), FIXED_ENV)
    assert not result.ok
    assert "Mars/Base" in result.error
    assert "Europe/Paris" in result.error and "America/New_York" in result.error


# --- adversarial inputs: bounded work, a readable answer, promptly (the timeouts are liveness guards only) --------


@pytest.mark.timeout(20)
@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("9**" * 66 + "9", "exponent"),  # a 199-character tower
        ("2^2^2^2^2^2^2^2", "exponent"),
        ("(9**9)**(9**9)", "exponent"),
        ("9.99**1000", "1e100"),
        ("(" * 200, "could not parse"),
        ("(" * 200 + "1" + ")" * 200, "at most 200 characters"),  # past the schema's limit, as a direct caller may be
    ],
)
async def test_calculator_refuses_towers_and_deep_nesting_before_computing(expression: str, reason: str):
    result = await calculator.fn(CalculatorArgs.model_construct(expression=expression), ENV)
    assert not result.ok
    assert reason in result.error


@pytest.mark.timeout(20)
@pytest.mark.asyncio
async def test_calculator_evaluates_200_characters_of_nested_parentheses():
    expression = "(" * 99 + "12" + ")" * 99
    assert len(expression) == 200
    assert (await calc(expression)).data["result"] == 12


@pytest.mark.timeout(20)
@pytest.mark.asyncio
@pytest.mark.parametrize("expression", ["round(5, -10**100)", "round(5, -10**9)", "round(-7, -10**50)"])
async def test_rounding_to_a_huge_negative_precision_is_zero_not_a_hang(expression: str):
    result = await calc(expression)
    assert result.ok, result.error
    assert result.data["result"] == 0


@pytest.mark.timeout(20)
@pytest.mark.parametrize("text", ["1" * 200_000, "1 " * 100_000, "1." * 100_000, "1" + " " * 200_000 + "x"])
def test_calculator_normalization_is_linear_on_long_runs(text: str):
    assert isinstance(normalize(text), str)


@pytest.mark.timeout(20)
def test_evaluate_refuses_an_expression_longer_than_the_schema_allows():
    with pytest.raises(CalcError, match="at most 200 characters"):
        evaluate("1+" * 1_000_000 + "1")


@pytest.mark.timeout(20)
def test_two_megabyte_query_is_searched_promptly():
    kb = default_knowledge_base()
    many_words = " ".join(f"w{i}" for i in range(300_000))
    assert kb.search("refund window " + "a" * 2_000_000)[0].source == "refunds.md"
    assert kb.search("refund window " + many_words)[0].source == "refunds.md"


@pytest.mark.timeout(20)
@pytest.mark.asyncio
async def test_search_docs_answers_a_maximal_query_promptly():
    result = await search_docs.fn(SearchDocsArgs(query="refund " + "x" * 493), ENV)
    assert result.ok and result.data["passages"][0]["source"] == "refunds.md"
