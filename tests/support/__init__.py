"""Test support: database fixtures, graph builders and fakes shared by the suites."""
