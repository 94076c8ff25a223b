"""The module-level graph `langgraph.json` points at, for `langgraph dev` and LangGraph Studio.

Compiled without a checkpointer: the dev server brings its own (and refuses a graph that has one).
Importing this module reads the environment and connects to nothing; the tools' database pool opens
on first use. The Handrail service never imports this module.

The dev server has no approval ledger, so here the reviewer's resume value is the decision
(`InProcessApprovals`): a local, single-user tool. Only the Handrail service enforces decisions
recorded through its API. Likewise a handoff's answer is the resume value
`{"action": "reply" | "resolve" | "return", "message": ...}` (`InProcessHandoffs`).
"""

from __future__ import annotations

from graph.builder import build_graph
from handrail.db import LazyPool
from handrail.settings import Settings
from handrail.wiring import build_deps
from tools.gate import InProcessApprovals
from tools.handoff_gate import InProcessHandoffs

_settings = Settings()
graph = build_graph(
    build_deps(_settings, LazyPool(_settings), approvals=InProcessApprovals(), handoffs=InProcessHandoffs())
)
