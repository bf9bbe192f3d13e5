"""No log line reveals more of a number than its mask, even where a line names the number
prefix beside it (a prefix block) and OTP_PREFIX_DROP_DIGITS is under 4."""

from __future__ import annotations

import json
import re

import pytest

from otpservice.domain.phone import configure_masking
from tests.ops.conftest import Api, Sim, service_env
from tests.support.servers import ServiceServer


def test_a_prefix_block_line_shows_no_more_digits_than_the_mask(
    redis_url: str, sim: Sim, capfd: pytest.CaptureFixture[str]
) -> None:
    env = service_env(redis_url, sim, OTP_PREFIX_DROP_DIGITS="2", OTP_PREFIX_BURST_NUMBERS="2")
    try:
        with ServiceServer(env) as server:
            api = Api(server.url)
            statuses = [api.create(f"+9053212345{n:02d}").status_code for n in range(3)]
    finally:
        configure_masking(4)  # the service set the process-wide mask; the default again
    assert statuses[-1] == 429
    lines = [
        json.loads(line) for line in capfd.readouterr().err.splitlines() if line.startswith("{")
    ]
    blocked = [line for line in lines if line["event"] == "alert.prefix_blocked"]
    assert blocked
    for line in lines:  # no run of more digits than a mask shows (ids and times aside)
        text = re.sub(r"[0-9a-f]{16,}|\d{4}-\d\d-\d\dT[\d:.]+Z?", "", json.dumps(line))
        assert not re.search(r"\d{9,}", text), text
    for line in blocked:
        visible = line["phone"].rstrip("*")[1:]  # "+905321234****" -> "905321234"
        shown = line["prefix"].rstrip("*")
        assert visible.startswith(shown), line
