"""The offline model's transparent rules: plan from the request and the tool catalogue, fill step
references, and write an answer from observations. Pure functions; no I/O, no randomness."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

# The rules read at most this much of a request. It is far above anything a person types and above the longest
# argument a tool takes from a request (an email body of 20,000 characters, tools/email.py), so a normal request is
# read whole; it only bounds the work on an oversized one, which the API refuses before it gets here anyway.
MAX_REQUEST_CHARS = 50_000
MAX_ADDRESS_CHARS = 254  # RFC 5321: a longer "address" is not one, so it is never planned as a recipient

# Every pattern below runs on the user's text and is linear in it: where two unbounded quantifiers meet, they
# cannot take the same characters, or the second takes whatever the first gives back (the final `.+` of TOPIC
# and MESSAGE_BODY), so no start position rescans the text. An address is bounded as RFC 5321 bounds it (local
# part <= 64, label <= 63) and matched possessively from the start of a run, so a run of "a" or "." costs a few
# steps per character, not a rescan to the end from every position; a longer local part or label is no
# address, rather than a truncated one.
EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]{1,64}+@[\w-]{1,63}+(?:\.[\w-]{1,63}+)++(?![\w-])")
EXPLICIT_CALL = re.compile(r"\bcall\s+([A-Za-z_][\w]*)\s+with\s+(?=\{)")
REFERENCE = re.compile(r"\{\{\s*step:(\d+)\s*\}\}")
# "15% of 80". It starts only where a number starts, so a run of digits is walked once, not once per digit.
PERCENT_OF = re.compile(r"(?<!\d)\d+(?:\.\d+)?\s*%\s*of\s*\d+(?:\.\d+)?")
# `find_arithmetic` finds expressions such as "(2+3)*4" with these, one run of expression characters at a time:
# from its first operand to its end (nothing follows the star, so it never gives characters back).
OPERAND_RUN = re.compile(r"[\d(][\d\s.+\-*/^()x×%]*")
OPERATOR = re.compile(r"[+\-*/^x×%]")
LAST_OPERAND_END = re.compile(r".*[\d)%]", re.DOTALL)  # matched once per run: greedy to its end, then back
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
# `\s*+` keeps the leading spaces it takes: none of the words starts with one, and giving them back one at a time
# cost ten word tests per space of a request made of spaces.
QUESTION = re.compile(r"\?|^\s*+(what|how|why|when|where|can|do|does|is|are|which)\b|\bpolicy\b", re.IGNORECASE)
TICKET = re.compile(r"\b(ticket|escalate|open a case|report (?:a|an|the) (?:problem|issue|bug))\b", re.IGNORECASE)
EMAIL_VERB = re.compile(r"\b(e-?mail|mail|send|notify|write to|tell)\b", re.IGNORECASE)
TIME = re.compile(r"\b(time|date|what day)\b", re.IGNORECASE)
# A request for the clock ("what time is it", "what is the date in Sydney"), not a question that names a time
# ("what is the response time for an urgent ticket").
CLOCK = re.compile(
    r"\bwhat\s++time\b|\b(?:what(?:'s|\s++is)\s++the|today's|current|local)\s++(?:date|time|day)\b|\bwhat\s++day\b"
    r"|\btime\s++(?:is\s++it|now)\b",
    re.IGNORECASE,
)
# Asking for a ticket, as opposed to asking about one ("what is the response time for an urgent ticket?").
OPEN_TICKET = re.compile(
    r"\b(?:open|create|file|raise|log|submit|start)\s++(?:[\w-]++\s++){0,3}?(?:ticket|case)\b|\bescalate\b"
    r"|\breport (?:a|an|the) (?:problem|issue|bug)\b",
    re.IGNORECASE,
)
QUESTION_START = re.compile(
    r"^\s*+(?:what|how|why|when|where|which|who|can|could|do|does|did|is|are|was|will|should)\b", re.IGNORECASE
)
# Where a request's parts meet: "What is 2+2, and how long is the refund window?" is two requests. Each starts
# only after a non-space, and its spaces are taken possessively, so no position of a run of spaces is rescanned.
PART_BREAK = re.compile(
    r"[?;]|(?<=\S)(?:\s*+,)?\s++and\s++(?=(?:what|how|when|where|which|who|why|can|could|do|does|is|are|will)\b)"
    r"|(?<=\S),\s*+(?=(?:what|how|when|where|which|who|why)\b)",
    re.IGNORECASE,
)
# Where a topic ends and the next part of the request starts ("the warranty policy and open a ticket: ...").
TOPIC_END = re.compile(
    r"(?<=\S)(?:\s*+,)?\s++and\s++(?:open|create|file|raise|email|send|tell|notify|what|how|when|where|which|who)\b",
    re.IGNORECASE,
)
# An order to send something ("email my manager the policy", "please forward it"), not "send me ..." (the answer).
SEND_REQUEST = re.compile(r"^\s*+(?:please\s++)?(?:e-?mail|mail|forward|send)\b(?!\s++(?:me|us)\b)", re.IGNORECASE)
# An order to act that no built-in tool carries out ("Transfer $500 …", "Book me a flight …"); "transfer me to an
# agent" asks for a person, which is the handoff's to answer.
ACTION_REQUEST = re.compile(
    r"^\s*+(?:please\s++)?(transfer|book|reserve|schedule|pay|refund|cancel|change|update|delete|move|buy|purchase|"
    r"charge|reset|unlock|upgrade)\b(?!\s++(?:me|us)\b)",
    re.IGNORECASE,
)
READ_ONLY = frozenset({"search_docs", "calculator", "get_time"})
REASON = re.compile(r":|\bbecause\b", re.IGNORECASE)
QUESTION_WORDS = re.compile(
    r"\b(?:what|how|why|when|where|which|who|is|are|was|do|does|did|can|could|will|it|long|much|many)\b", re.IGNORECASE
)
FILLER = re.compile(r"\b(please|email|e-mail|send|a|an|the|to|me|us)\b", re.IGNORECASE)
MESSAGE_BODY = re.compile(r"(?:saying|that says|with the message|:)\s*(.+)", re.IGNORECASE | re.DOTALL)
# "remember that ...", "remember: ...", "please remember ...": the rest is the fact. Only at the start of the request,
# so "do you remember the instructions?" or "I can't remember the policy" is no request to remember.
REMEMBER = re.compile(
    r"^\s*+(?:please\s++remember\b(?:\s++that\b)?+|remember(?:\s++that\b|\s*+:))\s*+:?\s*+(\S.*)",
    re.IGNORECASE | re.DOTALL,
)
# "forget that ...", "forget about ...", "forget my ...", "forget what I said about ...", "please forget ...". Only
# at the start and never in a question: "Forget the refund, how long do I have to exchange?" asks about exchanges.
FORGET = re.compile(
    r"^\s*+(?:please\s++forget|forget(?=\s++(?:(?:that|about|my|what\s++i\s++(?:said|told\s++you))\s++\w|everything\b)))"
    r"\s++(?:(?:that|about|what\s++i\s++(?:said|told\s++you)\s++about)\s++)?+(\w.*)",
    re.IGNORECASE | re.DOTALL,
)
# A memory that says where messages go ("always send summaries to finance@acme.test").
MEMORY_RECIPIENT = re.compile(r"\b(?:e-?mails?|mail|send|sent|summar(?:y|ies)|reports?|updates?|address)\b", re.I)
# Words that dangle at the end of a topic ("a summary of the refund policy to ..." once the address is cut out).
TRAILING_LINKS = ("to", "and send", "and email", "for")
_DECODER = json.JSONDecoder()
# How far before the end of a cut-off window its error can be: a cut "-Infinity" fails at its "-".
_JSON_LOOKAHEAD = 16


def plan_steps(
    request: str,
    tools: set[str],
    observations: list[dict[str, Any]],
    feedback: str | None,
    memories: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Steps for `request` using only `tools`, leaving out work the observations show was tried. `memories` are the
    user's remembered facts, most relevant first: the rules use one that names an address for an email that the
    request asks for without one."""
    request = request[:MAX_REQUEST_CHARS]
    explicit = _explicit_calls(request)
    steps = explicit
    if feedback:  # the validator refused a step: drop the steps naming tools that do not exist
        steps = [s for s in steps if s["tool"] in tools]
    if explicit and not steps:
        # Every exact call asked for names a tool that does not exist: guessing an intent from the call's
        # JSON ("2030-01-01" read as arithmetic) would run tools nobody asked for. Do nothing and say so.
        return []
    if not steps:
        steps = _memory_steps(request, tools) or _intent_steps(request, tools, memories)
    return [s for s in steps if not _tried(s, observations)]


def _memory_steps(request: str, tools: set[str]) -> list[dict[str, Any]]:
    """A request to remember or to forget is that and nothing else: "remember to email x@y.test every Monday"
    keeps a fact, it sends no email."""
    if "?" not in request and "forget" in tools and (match := FORGET.match(request)):
        about = match.group(1).strip().rstrip(".!")
        return [{"tool": "forget", "args": {"about": about}, "purpose": "forget what the user asked to forget"}]
    if "remember" in tools and (match := REMEMBER.match(request)):
        fact = match.group(1).strip().rstrip(".!")
        return [{"tool": "remember", "args": {"fact": fact}, "purpose": "keep what the user asked to remember"}]
    return []


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
        args = _json_object_at(request, match.end())
        if args is not None:
            steps.append({"tool": match.group(1), "args": args, "purpose": f"run {match.group(1)} as asked"})
    return steps


def _json_object_at(text: str, start: int) -> dict[str, Any] | None:
    """The JSON object that starts at `text[start]`, or None when there is none.

    Decoding starts on a small window of `text` and doubles it only while the error may come from the cut. The
    whole text is never handed to the decoder: its error counts the lines before the error's position, so each
    failed attempt cost O(len(text)) and `call x with {` repeated cost O(n^2). An object ends at its closing
    brace, so a window that holds it decodes exactly as the whole text would.
    """
    size = 64
    while True:
        window = text[start : start + size]
        try:
            value, _ = _DECODER.raw_decode(window)
            return dict(value)
        except RecursionError:  # nested deeper than the decoder recurses: not arguments anyone wrote
            return None
        except json.JSONDecodeError as exc:
            cut_off = exc.msg.startswith("Unterminated string") or exc.pos >= len(window) - _JSON_LOOKAHEAD
            if not cut_off or start + size >= len(text):
                return None
        size *= 2


def _intent_steps(request: str, tools: set[str], memories: Sequence[str] = ()) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = []
    asked_to_send = bool(EMAIL_VERB.search(request))
    address = given = find_address(request)
    if address is None and asked_to_send:  # "email a summary of ..." to whom? A remembered address, if any
        address = next((a for m in memories if MEMORY_RECIPIENT.search(m) and (a := find_address(m))), None)
    wants_email = bool(address and asked_to_send and "send_email" in tools)
    topic = _topic(request, address)
    if "search_docs" in tools and topic:
        steps.append(
            {"tool": "search_docs", "args": {"query": topic}, "purpose": f"find what our documents say about {topic}"}
        )
    if "calculator" in tools and (expr := find_arithmetic(request)) and not wants_email:
        steps.append(
            {
                "tool": "calculator",
                "args": {"expression": expr.strip()},
                "purpose": "compute the arithmetic in the request",
            }
        )
    if "get_time" in tools and CLOCK.search(request):
        steps.append({"tool": "get_time", "args": {"timezone": _zone(request)}, "purpose": "tell the current time"})
    if "create_ticket" in tools and _asks_for_ticket(request):
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
                "purpose": f"email {address} as asked" if given else f"email {address}, as the user asked to remember",
                "args": {"to": address, "subject": subject[:200], "body": body},
            }
        )
    if steps and "search_docs" in tools and not any(s["tool"] == "search_docs" for s in steps):
        # Every part is answered: the parts of the request no other step covers ("and how long is the refund
        # window?") are looked up in the documents.
        if rest := _uncovered_parts(request):
            steps.append(
                {"tool": "search_docs", "args": {"query": rest}, "purpose": f"find what our documents say about {rest}"}
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


def _asks_for_ticket(request: str) -> bool:
    """A ticket is asked for ("open a ticket", "my order is lost, open a case"), not asked about ("what priority did
    that ticket get?")."""
    if not TICKET.search(request):
        return False
    return bool(OPEN_TICKET.search(request)) or not QUESTION_START.match(request)


def _uncovered_parts(request: str) -> str:
    """The parts of `request` that no arithmetic, clock, ticket or email step covers, as one search query (empty when
    none asks anything)."""
    parts = []
    for part in PART_BREAK.split(request):
        if not part.strip() or find_arithmetic(part) or CLOCK.search(part) or TICKET.search(part) or EMAIL.search(part):
            continue
        # A part asks something when it is a question or says at least two things ("Thanks!" asks nothing).
        content = QUESTION_WORDS.sub(" ", _clean(part)).split()
        if content and (QUESTION_START.match(part) or len(content) >= 2):
            parts.append(_clean(part))
    return " ".join(parts)


def find_address(text: str) -> str | None:
    """The first e-mail address in `text`."""
    return next((m.group(0) for m in EMAIL.finditer(text) if len(m.group(0)) <= MAX_ADDRESS_CHARS), None)


def find_arithmetic(text: str) -> str | None:
    """The first arithmetic in `text`: "15% of 80", or an operand, an operator and an operand ("(2+3)*4").

    It finds what the pattern `[\\d(]E*OE*[\\d)%]` found (E an expression character, O an operator) without its
    cost: the pattern tried every split of a long run of digits or spaces, O(n^2) to O(n^3). Within one run of
    E characters it matched from the run's first digit or "(" to its last digit, ")" or "%", when an operator
    lies between the two; so here each run is read a constant number of times.
    """
    percent = PERCENT_OF.search(text)
    limit = percent.start() if percent else len(text)  # at the same position, "15% of 80" wins, as it did
    position = 0
    while (run := OPERAND_RUN.search(text, position)) and run.start() < limit:
        end = LAST_OPERAND_END.match(text, run.start() + 1, run.end())
        if end and OPERATOR.search(text, run.start() + 1, end.end() - 1):
            return text[run.start() : end.end()]
        position = run.end()
    return percent.group(0) if percent else None


def _topic(request: str, address: str | None) -> str | None:
    match = TOPIC.search(request)
    if not match:
        return None
    topic = match.group(1)
    if address:
        topic = topic.replace(address, " ")
    return _clean(_cut_topic(topic.strip())) or None


def _cut_topic(topic: str) -> str:
    """`topic` up to its first ".", "?" or "!", and without a link word dangling at its end.

    A scan replacing `re.split(r"\\s+(?:to|...)\\s*$|[.?!]", topic)[0]`, which retried its `\\s+` from every
    position of a long run of spaces (O(n^2)).
    """
    end = len(topic)
    if sentence_end := re.search(r"[.?!]", topic):
        end = sentence_end.start()
    reason = ""
    if next_part := TOPIC_END.search(topic, 0, end):
        # "... and open a ticket: my backpack zipper broke" — what went wrong belongs to the question too.
        if because := REASON.search(topic, next_part.end(), end):
            reason = " " + topic[because.end() : end].strip()
        end = next_part.start()
    for word in TRAILING_LINKS:
        if topic.endswith(word) and topic[: -len(word)][-1:].isspace():
            end = min(end, len(topic[: -len(word)].rstrip()))
    return topic[:end] + reason


def _clean(text: str) -> str:
    text = EMAIL.sub(" ", text)
    text = FILLER.sub(" ", text)
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
    match = MESSAGE_BODY.search(request)
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
        return _render_search(obs, data)
    if tool == "calculator":
        return f"{data.get('expression')} = {data.get('result')}"
    if tool == "get_time":
        return f"It is {data.get('iso')} in {data.get('timezone')} ({data.get('weekday')})."
    if tool == "create_ticket":
        return f"Opened ticket #{data.get('ticket_id')} ({data.get('priority')} priority): {data.get('title')}."
    if tool == "send_email":
        return f"Email to {data.get('to')} with subject {data.get('subject')!r}: {data.get('status')}."
    if tool == "remember":
        return f"I will remember: {data.get('text')}."
    if tool == "forget":
        gone = [m["text"] for m in data.get("forgotten", [])]
        if not gone:
            return f"I had nothing remembered about {data.get('about')!r}."
        return "I forgot: " + "; ".join(gone) + "."
    return json.dumps(data, default=str)[:1000]


def _render_search(obs: dict[str, Any], data: dict[str, Any]) -> str:
    """The sentences that answer the query, each group with its source (`refunds.md › Refund window`); or, when no
    passage is about the query, that our documents don't cover it, naming what was asked."""
    extracts = data.get("answer")
    passages = data.get("passages", [])
    if extracts is None:  # a result without extracts (a custom knowledge tool): its best passages whole
        extracts = [{**p, "text": " ".join(str(p["text"]).split())} for p in passages[:2]]
    if not extracts:
        query = " ".join(str((obs.get("args") or {}).get("query", "")).split())[:200]
        return f"Our documents don't cover that{f' (“{query}”)' if query else ''}."
    groups: list[tuple[str, list[str]]] = []
    for e in extracts:
        where = f"{e['source']} › {e['section']}"
        if groups and groups[-1][0] == where:
            groups[-1][1].append(e["text"])
        else:
            groups.append((where, [e["text"]]))
    return "\n".join(f"{' '.join(texts)} ({where})" for where, texts in groups)


def _email_without_address(request: str, observations: list[dict[str, Any]]) -> bool:
    """The request tells us to email something ("Email my manager the refund policy") to nobody we can reach: no
    address in it, none remembered (no send_email was planned)."""
    request = request[:MAX_REQUEST_CHARS]
    if not SEND_REQUEST.match(request) or find_address(request) is not None:
        return False
    return not any(o["tool"] == "send_email" for o in observations)


def write_answer(data: dict[str, Any]) -> str:
    """The final answer, grounded only on the observations, and honest about what was not done. `request`, when
    given, is the user's request: an action no tool carries out ("Transfer $500 …") is said to be not done, and an
    email asked for with no address to be unsent, with what is missing."""
    observations = data.get("observations", [])
    request = str(data.get("request") or "")[:MAX_REQUEST_CHARS]
    lines = []
    if (action := ACTION_REQUEST.match(request)) and all(o["tool"] in READ_ONLY for o in observations):
        # Looked up, not done: say so first, so what the documents say is never read as the action taken.
        lines.append(f"I can't {action.group(1).lower()} that for you: none of my tools does it.")
    lines += [render_result(o) for o in observations if o.get("ok")]
    for o in observations:
        if o["status"] == "rejected":
            reason = o.get("feedback") or "no reason given"
            lines.append(f"I did not run {o['tool']}: the reviewer rejected it ({reason}).")
        elif not o.get("ok"):
            lines.append(f"{o['tool']} failed: {o.get('error')}.")
    if _email_without_address(request, observations):
        lines.append("I did not send an email: the request names no address. Tell me the address to send it to.")
    if data.get("stop_reason"):
        lines.append(f"I stopped before finishing: {data['stop_reason']}.")
    if not lines:
        lines.append("I could not find a way to help with that using the tools I have.")
    return "\n\n".join(lines)
