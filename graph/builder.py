"""Wires plan → execute (→ approve → execute) → reflect → (execute | plan | synthesize) → END, where
independent read-only steps run at once instead: plan/reflect → run_step × N → gather → reflect."""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.store.base import BaseStore

from graph.context import AgentDeps, RunContext
from graph.routing import (
    fanning_out,
    route_after_execute,
    route_after_human,
    route_after_plan,
    route_after_reflect,
    route_at_start,
)
from graph.state import AgentState, InputState, OutputState
from nodes.approve import make_approve
from nodes.execute import make_execute
from nodes.gather import make_gather
from nodes.handoff import make_handoff
from nodes.human import make_human
from nodes.plan import make_plan
from nodes.reflect import make_reflect
from nodes.run_step import make_run_step
from nodes.synthesize import make_synthesize

GRAPH_ID = "agent"


def build_graph(
    deps: AgentDeps,
    *,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    store: BaseStore | None = None,
    interrupt_before: list[str] | None = None,
    interrupt_after: list[str] | None = None,
    node_timeout_s: float | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """The one factory the service, the tests and `langgraph dev` compile the agent with.

    `node_timeout_s` (NODE_TIMEOUT_S): LangGraph cancels a node attempt that runs longer, and the run fails
    with NodeTimeoutError; the model and tool calls inside a node have their own, shorter timeouts."""
    builder = StateGraph(AgentState, context_schema=RunContext, input_schema=InputState, output_schema=OutputState)
    if node_timeout_s is not None:
        builder.set_node_defaults(timeout=node_timeout_s)
    builder.add_node("plan", make_plan(deps))
    builder.add_node("execute", make_execute(deps))
    builder.add_node("approve", make_approve(deps))
    builder.add_node("reflect", make_reflect(deps))
    builder.add_node("synthesize", make_synthesize(deps))
    builder.add_node("run_step", make_run_step(deps))
    builder.add_node("gather", make_gather(deps))
    builder.add_node("handoff", make_handoff(deps))
    builder.add_node("human", make_human(deps))
    builder.add_conditional_edges(START, route_at_start, ["plan", "human"])
    builder.add_conditional_edges(
        "plan", fanning_out(deps, route_after_plan), ["execute", "run_step", "synthesize", "handoff"]
    )
    builder.add_conditional_edges("execute", route_after_execute)
    builder.add_edge("approve", "execute")
    builder.add_edge("run_step", "gather")
    builder.add_edge("gather", "reflect")
    builder.add_conditional_edges(
        "reflect", fanning_out(deps, route_after_reflect), ["execute", "run_step", "plan", "synthesize", "handoff"]
    )
    builder.add_edge("synthesize", END)
    builder.add_edge("handoff", "human")  # a person takes the thread: human only asks
    builder.add_conditional_edges("human", route_after_human, ["human", END])
    return builder.compile(
        checkpointer=checkpointer,
        store=store,
        interrupt_before=interrupt_before,
        interrupt_after=interrupt_after,
        name=GRAPH_ID,
    )
