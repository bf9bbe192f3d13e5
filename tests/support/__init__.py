"""Test helpers shared across suites (the simulator server, ...)."""
