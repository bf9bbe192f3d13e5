"""The HTTP layer: the only place that knows status codes."""
