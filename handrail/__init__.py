"""Handrail's service runtime: settings, database, runs, workers, approvals, auth and the HTTP API."""

__version__ = "0.1.0"
