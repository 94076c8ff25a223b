"""Handrail's service runtime: settings, database, runs, workers, approvals, auth and the HTTP API."""
