"""Turkey SMS provider: client contract tests against the simulator, wire fixtures."""
