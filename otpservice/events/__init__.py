"""Events: what consumes and feeds the event log (webhooks, delivery tracking, signing)."""
