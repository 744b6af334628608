"""Helpers shared by the test suites: engine, provider and browser fixtures (no test lives here)."""
