"""Guardrails: one small module per layer, each answering `check(...) -> Verdict` (verdict.py).

- `input`: size, hidden characters and prompt injection in what a user (or a reviewer's feedback)
  says; refused at the API before a run exists, and again in `plan` where it is acted on.
- `tool_policy`: whether a validated call may run at all (allowlist, kill switch, and whether the user
  asked for a side effect or a tool output did); checked in `execute` before approval and before running.
- `tool_output`: tool results are data: bounded, and instruction-like text in them fenced off before
  any model reads them.
- `output`: PII, claims of actions no tool call backs, and a requested JSON format, on the final answer.
- `budget`: a run's token and USD caps, checked before every model call against its estimate.

Pure functions with no I/O: the records they consult (kill switches, spend, the audit log) are the
service's, reached through `graph.context.Guards`.
"""
