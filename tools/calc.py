"""``calculator``: reliable arithmetic for the model, evaluated by walking the AST (never ``eval``)."""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, Field

from tools.base import ToolEnv, ToolResult, tool

MAX_EXPONENT = 1000
MAX_MAGNITUDE = 10**100
MAX_EXPRESSION_CHARS = 200  # what the model may pass; `evaluate` holds any caller to it too

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _round(*args: Any) -> Any:
    # int.__round__ computes 10**-ndigits first, so round(5, -10**100) would never finish. An integer within
    # MAX_MAGNITUDE (< 10**101) rounds to 0 at any precision below -101: there is nothing to compute.
    if len(args) == 2 and all(type(a) is int for a in args) and args[1] < -101:
        return 0
    return round(*args)  # the built-in also words the errors for wrong arguments


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": _round,
    "min": min,
    "max": max,
}
_ALLOWED = "numbers, + - * / // % ** ( ) and the functions sqrt, abs, round, min, max"

# A number starts where a run of digits starts, so a long run is walked once, not once per digit (O(n^2)).
_NUMBER = r"((?<!\d)\d+(?:\.\d*)?|\.\d+)"
# "15% of 80" -> "15/100*80"; "20%" -> "20/100". A "%" followed by an operand stays modulo ("10 % 3").
_PERCENT_OF = re.compile(_NUMBER + r"\s*%\s*of\b", re.IGNORECASE)
_PERCENT = re.compile(_NUMBER + r"\s*%(?!\s*[\w.(])")
_TIMES = re.compile(r"(?<=[\d).])\s*[xX]\s*(?=[\d(.])")


class CalcError(Exception):
    """A message meant for the model: what was wrong with the expression."""


class CalculatorArgs(BaseModel):
    expression: str = Field(
        min_length=1,
        max_length=MAX_EXPRESSION_CHARS,
        description="Arithmetic to evaluate, e.g. '(2+3)*4', '2^10', 'sqrt(2)', '15% of 80', 'round(7/3,2)'.",
    )


def normalize(expression: str) -> str:
    """Rewrite the notations people type (×, x, ^, %) into Python operators."""
    text = expression.replace("×", "*").replace("÷", "/").replace("^", "**")
    text = _TIMES.sub("*", text)
    text = _PERCENT_OF.sub(r"\1/100*", text)
    return _PERCENT.sub(r"(\1/100)", text)


def _check(value: Any) -> Any:
    if abs(value) > MAX_MAGNITUDE:
        raise CalcError("a value exceeds 1e100 in magnitude, the calculator's limit.")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise CalcError(f"exponent {exponent} is out of range; its magnitude must be at most {MAX_EXPONENT}.")
    # Refuse before computing, so that a huge integer power never starts.
    if abs(base) > 1 and exponent > 0 and exponent * math.log10(abs(base)) > 100:
        raise CalcError("a value exceeds 1e100 in magnitude, the calculator's limit.")
    result = base**exponent
    if isinstance(result, complex):
        raise CalcError("a negative number to a fractional power has no real result.")
    return result


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _check(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _check(_power(left, right))
        return _check(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call):
        name = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        if name not in _FUNCTIONS or node.keywords:
            raise CalcError(f"function {name!r} is not allowed; use {_ALLOWED}.")
        try:
            return _check(_FUNCTIONS[name](*(_eval(arg) for arg in node.args)))
        except TypeError as exc:
            raise CalcError(f"wrong arguments for {name}(): {exc}") from None
    raise CalcError(f"{ast.unparse(node)!r} is not arithmetic; use {_ALLOWED}.")


def evaluate(expression: str) -> int | float:
    """Evaluate ``expression`` or raise ``CalcError`` with a message the model can act on."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalcError(f"it has {len(expression)} characters; at most {MAX_EXPRESSION_CHARS} characters are accepted.")
    try:
        tree = ast.parse(normalize(expression).strip(), mode="eval")
    except SyntaxError:
        raise CalcError(f"could not parse {expression!r}; use {_ALLOWED}.") from None
    try:
        result = _eval(tree)
    except ZeroDivisionError:
        raise CalcError("division by zero is undefined; check the divisor.") from None
    except (OverflowError, RecursionError):
        raise CalcError("the expression is too large or too deeply nested to compute.") from None
    except ValueError as exc:
        raise CalcError(f"invalid operation ({exc}), e.g. the square root of a negative number.") from None
    if isinstance(result, float):
        # Fifteen significant digits hide binary noise such as 0.1 + 0.2 = 0.30000000000000004.
        result = float(f"{result:.15g}")
        if result.is_integer() and abs(result) < 2**53:  # beyond 2**53 a float is no exact integer
            return int(result)
    return result


@tool(args=CalculatorArgs, risk="read", idempotent=True, timeout_s=5)
async def calculator(args: CalculatorArgs, env: ToolEnv) -> ToolResult:
    """Evaluate an arithmetic expression. Use it for any sum, price, discount, percentage or
    unit conversion instead of doing the arithmetic yourself. Supports
    numbers, + - * / // % ** and parentheses, "x" or "×" for multiplication, "^" for power, and
    sqrt, abs, round, min, max. A "%" right after a number means percent: "20%" is 0.2 and
    "15% of 80" is 12; "10 % 3" (followed by a number) is the remainder. Returns
    {"expression", "result"}; whole-number results are integers."""
    try:
        return ToolResult.success({"expression": args.expression, "result": evaluate(args.expression)})
    except CalcError as exc:
        return ToolResult.failure(f"Cannot evaluate {args.expression!r}: {exc}")
