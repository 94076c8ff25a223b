"""The agent graph: state schema, run context, routing and the builder that wires the nodes."""
