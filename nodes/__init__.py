"""The graph's nodes, one per module: plan, execute, approve, reflect, synthesize."""
