"""The offline model's transparent rules: plan from the request and the tool catalogue, fill step
references, and write an answer from observations. Pure functions; no I/O, no randomness."""

from __future__ import annotations

import json
import re
from typing import Any

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
EXPLICIT_CALL = re.compile(r"\bcall\s+([A-Za-z_][\w]*)\s+with\s+(?=\{)")
REFERENCE = re.compile(r"\{\{\s*step:(\d+)\s*\}\}")
ARITHMETIC = re.compile(
    r"(?:\d+(?:\.\d+)?\s*%\s*of\s*\d+(?:\.\d+)?)"  # "15% of 80"
    r"|(?:[\d(][\d\s.+\-*/^()x×%]*[+\-*/^x×%][\d\s.+\-*/^()x×%]*[\d)%])"  # "(2+3)*4"
)
ZONE = re.compile(r"\b([A-Z][a-z]+/[A-Za-z_]+)\b")
CITIES = {
    "tokyo": "Asia/Tokyo",
    "london": "Europe/London",
    "paris": "Europe/Paris",
    "berlin": "Europe/Berlin",
    "new york": "America/New_York",
    "san francisco": "America/Los_Angeles",
    "los angeles": "America/Los_Angeles",
    "chicago": "America/Chicago",
    "sydney": "Australia/Sydney",
    "singapore": "Asia/Singapore",
    "utc": "UTC",
    "madrid": "Europe/Madrid",
    "mumbai": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
}
TOPIC = re.compile(
    r"(?:summary of|summarize|summarise|about|regarding|explain|policy on|details of)\s+(?:the\s+|our\s+|your\s+)?(.+)",
    re.IGNORECASE,
)
QUESTION = re.compile(r"\?|^\s*(what|how|why|when|where|can|do|does|is|are|which)\b|\bpolicy\b", re.IGNORECASE)
TICKET = re.compile(r"\b(ticket|escalate|open a case|report (?:a|an|the) (?:problem|issue|bug))\b", re.IGNORECASE)
EMAIL_VERB = re.compile(r"\b(e-?mail|mail|send|notify|write to|tell)\b", re.IGNORECASE)
TIME = re.compile(r"\b(time|date|what day)\b", re.IGNORECASE)


def plan_steps(
    request: str, tools: set[str], observations: list[dict[str, Any]], feedback: str | None
) -> list[dict[str, Any]]:
    """Steps for `request` using only `tools`, leaving out work the observations show was tried."""
    steps = _explicit_calls(request)
    if feedback:  # the validator refused a step: drop the steps naming tools that do not exist
        steps = [s for s in steps if s["tool"] in tools]
    if not steps:
        steps = _intent_steps(request, tools)
    return [s for s in steps if not _tried(s, observations)]


def _tried(step: dict[str, Any], observations: list[dict[str, Any]]) -> bool:
    """A tool that failed or was rejected is not planned again this turn; a call that succeeded is
    not repeated. Observed arguments carry defaults the plan omits, so compare the planned subset."""
    for o in observations:
        if o["tool"] != step["tool"]:
            continue
        if not o["ok"] or all(o["args"].get(k) == v for k, v in step["args"].items()):
            return True
    return False


def _explicit_calls(request: str) -> list[dict[str, Any]]:
    """`call TOOL with {json}`: lets a user (or a test) ask for an exact call."""
    steps = []
    for match in EXPLICIT_CALL.finditer(request):
        try:
            args, _ = json.JSONDecoder().raw_decode(request, match.end())
        except json.JSONDecodeError:
            continue
        steps.append({"tool": match.group(1), "args": args, "purpose": f"run {match.group(1)} as asked"})
    return steps


def _intent_steps(request: str, tools: set[str]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    address = EMAIL.search(request)
    wants_email = bool(address and EMAIL_VERB.search(request) and "send_email" in tools)
    topic = _topic(request, address.group(0) if address else None)
    if "search_docs" in tools and topic:
        steps.append(
            {"tool": "search_docs", "args": {"query": topic}, "purpose": f"find what our documents say about {topic}"}
        )
    if "calculator" in tools and (expr := ARITHMETIC.search(request)) and not wants_email:
        steps.append(
            {
                "tool": "calculator",
                "args": {"expression": expr.group(0).strip()},
                "purpose": "compute the arithmetic in the request",
            }
        )
    if "get_time" in tools and TIME.search(request):
        steps.append({"tool": "get_time", "args": {"timezone": _zone(request)}, "purpose": "tell the current time"})
    if "create_ticket" in tools and TICKET.search(request):
        steps.append(
            {
                "tool": "create_ticket",
                "purpose": "open a ticket for the support team",
                "args": {
                    "title": _clean(request)[:80] or "Support request",
                    "body": request.strip(),
                    "priority": _priority(request),
                },
            }
        )
    if wants_email and address:
        source = next((i + 1 for i, s in enumerate(steps) if s["tool"] == "search_docs"), None)
        body = f"{{{{step:{source}}}}}" if source else _message_body(request)
        subject = f"Summary: {topic}" if topic else "A message from Handrail"
        steps.append(
            {
                "tool": "send_email",
                "purpose": f"email {address.group(0)} as asked",
                "args": {"to": address.group(0), "subject": subject[:200], "body": body},
            }
        )
    if not steps and "search_docs" in tools and (QUESTION.search(request) or not TICKET.search(request)):
        steps.append(
            {
                "tool": "search_docs",
                "args": {"query": _clean(request) or request},
                "purpose": "find what our documents say about the question",
            }
        )
    return steps


def _topic(request: str, address: str | None) -> str | None:
    match = TOPIC.search(request)
    if not match:
        return None
    topic = match.group(1)
    if address:
        topic = topic.replace(address, " ")
    topic = re.split(r"\s+(?:to|and send|and email|for)\s*$|[.?!]", topic.strip())[0]
    return _clean(topic) or None


def _clean(text: str) -> str:
    text = EMAIL.sub(" ", text)
    text = re.sub(r"\b(please|email|e-mail|send|a|an|the|to|me|us)\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split()).strip(" ,.:;?!")


def _zone(request: str) -> str:
    if match := ZONE.search(request):
        return match.group(1)
    low = request.lower()
    return next((zone for city, zone in CITIES.items() if city in low), "UTC")


def _priority(request: str) -> str:
    low = request.lower()
    if any(w in low for w in ("urgent", "asap", "outage", "emergency")):
        return "urgent"
    if any(w in low for w in ("high priority", "blocked", "cannot", "can't")):
        return "high"
    return "low" if "low priority" in low else "normal"


def _message_body(request: str) -> str:
    match = re.search(r"(?:saying|that says|with the message|:)\s*(.+)", request, re.IGNORECASE | re.DOTALL)
    return (match.group(1) if match else request).strip()


def fill_references(args: dict[str, Any], observations: list[dict[str, Any]]) -> dict[str, Any]:
    """Replace `{{step:N}}` in string arguments with a text rendering of step N's result."""
    by_step = {o["step"] + 1: o for o in observations}

    def render(match: re.Match[str]) -> str:
        obs = by_step.get(int(match.group(1)))
        return render_result(obs) if obs else "(that step produced no result)"

    return {k: REFERENCE.sub(render, v) if isinstance(v, str) else v for k, v in args.items()}


def render_result(obs: dict[str, Any]) -> str:
    """One observation as plain text, fit for an email body or an answer."""
    if not obs.get("ok"):
        return f"{obs['tool']} did not succeed: {obs.get('error') or obs.get('feedback') or obs['status']}"
    data = obs.get("data") or {}
    tool = obs["tool"]
    if tool == "search_docs":
        passages = data.get("passages", [])[:2]
        if not passages:
            return "Our documents had nothing on that."
        return "\n\n".join(f"{p['title']} — {p['section']} ({p['source']}): {p['text']}" for p in passages)
    if tool == "calculator":
        return f"{data.get('expression')} = {data.get('result')}"
    if tool == "get_time":
        return f"It is {data.get('iso')} in {data.get('timezone')} ({data.get('weekday')})."
    if tool == "create_ticket":
        return f"Opened ticket #{data.get('ticket_id')} ({data.get('priority')} priority): {data.get('title')}."
    if tool == "send_email":
        return f"Email to {data.get('to')} with subject {data.get('subject')!r}: {data.get('status')}."
    return json.dumps(data, default=str)[:1000]


def write_answer(data: dict[str, Any]) -> str:
    """The final answer, grounded only on the observations, and honest about what was not done."""
    observations = data.get("observations", [])
    done = [render_result(o) for o in observations if o.get("ok")]
    lines = list(done)
    for o in observations:
        if o["status"] == "rejected":
            reason = o.get("feedback") or "no reason given"
            lines.append(f"I did not run {o['tool']}: the reviewer rejected it ({reason}).")
        elif not o.get("ok"):
            lines.append(f"{o['tool']} failed: {o.get('error')}.")
    if data.get("stop_reason"):
        lines.append(f"I stopped before finishing: {data['stop_reason']}.")
    if not lines:
        lines.append("I could not find a way to help with that using the tools I have.")
    return "\n\n".join(lines)
