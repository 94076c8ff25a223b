"""Guardrails (input, tool policy, tool output, output, budgets) arrive with their own issue.

Nothing here yet. The seams they will plug into: `plan` validates every step through
`tools.registry.Registry.check` (tool policy), `tools.runner.run_tool` is the single place a tool
result passes (tool output), `synthesize` writes the only answer (output), and `reflect.judge`
already enforces the step and wall-time limits (budgets).
"""
