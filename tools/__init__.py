"""Tools the agent can call: the contract, the registry, the runner and the built-in tool families."""
