"""The statistics counters, read for the console's pages (waits for the event log's)."""

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
