"""Measuring Handrail: corpora and the scripts that score the guardrails and the agent against them."""
