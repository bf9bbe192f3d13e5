"""Helpers that run real servers for the tests: redis-server, the simulator, the service."""
