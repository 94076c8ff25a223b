"""Durable background runs: the queue in Postgres, the workers that claim it, and their event streams."""
