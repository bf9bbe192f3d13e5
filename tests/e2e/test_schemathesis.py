"""Schemathesis against the live service: real Redis, the simulator, uvicorn on a socket.

Every built-in check, its examples/coverage/fuzzing phases per operation, and its stateful
mode, which follows the OpenAPI links from a created verification to the calls that take
its id. DECISIONS 13: limits are raised, and the positive-data check accepts 409, 422 and
429 as answers to schema-valid input (an unparseable phone is a valid string; a code can be
of the wrong length; a resend can be refused). Example counts are bounded to keep the module
near a minute.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
import schemathesis.engine
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events

from tests.e2e.conftest import ADMIN_KEY, WEB_KEY, Sim, service_env
from tests.support.servers import RedisProcess, ServiceServer

RAISED_LIMITS = {
    "OTP_RESEND_COOLDOWN_SECONDS": "0",
    "OTP_MAX_SENDS": "20",
    "OTP_LIMIT_PHONE_10M": "1000000",
    "OTP_LIMIT_PHONE_24H": "1000000",
    "OTP_LIMIT_PHONE_NET_10M": "1000000",
    "OTP_LIMIT_PHONE_NET_24H": "1000000",
    "OTP_LIMIT_IP_NET48_HOUR": "1000000",
    "OTP_LIMIT_TEST_NUMBER_DAY": "1000000",
    "OTP_LIMIT_IP_HOUR": "1000000",
    "OTP_LIMIT_IP_NET_HOUR": "1000000",
    "OTP_LIMIT_CLIENT_MINUTE": "1000000",
    "OTP_LIMIT_PREFIX_HOUR": "1000000",
    "OTP_LIMIT_PREFIX_DAY": "1000000",
    "OTP_LIMIT_COUNTRY_HOUR": "1000000",
    "OTP_LIMIT_COUNTRY_DAY": "1000000",
    "OTP_LIMIT_GLOBAL_MINUTE": "1000000",
    "OTP_LIMIT_GLOBAL_DAY": "1000000",
    "OTP_PREFIX_BURST_NUMBERS": "0",
    "OTP_CHECK_FREE_FAILURES": "1000",
    "OTP_CHECK_DAILY_FAILURES": "1000000",
    "OTP_TEST_NUMBER_DAILY_FAILURES": "1000000",
    "OTP_MAX_CHECKS": "20",
    # Schemathesis never enters a code: the fraud guard would rightly block its prefix.
    "OTP_GUARD_MODE": "off",
}

# Random strings are almost never valid mobile numbers: a dictionary of real ones lets
# creates succeed, so the stateful phase has ids to follow and check-by-phone finds some.
PHONES = [f"+90532{n:07d}" for n in range(1_234_500, 1_234_520)]

CONFIG: dict[str, Any] = {
    "headers": {"Authorization": f"Bearer {WEB_KEY}"},
    "generation": {"max-examples": 30, "database": "none"},
    "checks": {
        "positive_data_acceptance": {"expected-statuses": ["2xx", "404", "409", "422", "429"]},
    },
    "dictionaries": {"phones": {"values": PHONES}},
    "parameters": {"body.phone": {"dictionary": "phones", "probability": 0.6}},
    # The balance and /v1/admin are for admin keys; with a client key they are 403 by design.
    "operations": [
        {"include-path-regex": path, "headers": {"Authorization": f"Bearer {ADMIN_KEY}"}}
        for path in ("^/v1/provider/", "^/v1/admin/")
    ],
}


@pytest.fixture(scope="module")
def live(redis_server: RedisProcess, sim_server: Sim) -> Iterator[ServiceServer]:
    db = redis.Redis.from_url(redis_server.url)
    db.flushall()
    db.close()
    sim_server.reset()
    env = service_env(redis_server.url, sim_server, OTP_API_DOCS="1", **RAISED_LIMITS)
    with ServiceServer(env) as server:
        yield server


def fresh_idempotency_keys(_: Any, headers: dict[str, Any] | None) -> dict[str, Any] | None:
    """A replay answers the first 201 again (DECISIONS 8), even once that verification was
    approved or canceled; the stateful model cannot know that, so each key is used once."""
    if headers and "Idempotency-Key" in headers:
        headers = {**headers, "Idempotency-Key": uuid.uuid4().hex}
    return headers


def run_schemathesis(
    url: str,
    phases: dict[str, Any],
    *,
    unique_idempotency: bool = False,
    path_regex: str | None = None,
) -> list[str]:
    """Run Schemathesis's engine (what its CLI runs) and return every failure, described.
    ``path_regex``: only the operations whose path matches it run."""
    operations = list(CONFIG["operations"])
    if path_regex is not None:
        operations.append({"exclude-path-regex": path_regex, "enabled": False})
    config = SchemathesisConfig.from_dict({**CONFIG, "operations": operations, "phases": phases})
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json", config=config)
    if unique_idempotency:
        schema.hook("map_headers")(fresh_idempotency_keys)
    problems: list[str] = []
    scenarios = 0
    for event in schemathesis.engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            scenarios += 1
            for checks in event.recorder.checks.values():
                for check in checks:
                    if check.status == Status.FAILURE and check.failure_info is not None:
                        failure = check.failure_info.failure
                        problems.append(
                            f"{event.recorder.label}: {check.name}: {failure.title}\n"
                            f"{failure.message}\n{check.failure_info.code_sample}"
                        )
        elif isinstance(event, events.NonFatalError | events.FatalError):
            problems.append(f"{getattr(event, 'label', 'engine')}: error: {event.info}")
    assert scenarios, "Schemathesis ran no scenario at all"
    return problems


def test_every_operation_keeps_its_contract(live: ServiceServer) -> None:
    """Examples, coverage and fuzzing phases, every built-in check, on every operation."""
    problems = run_schemathesis(live.url, {"stateful": {"enabled": False}})
    assert not problems, "\n\n".join(dict.fromkeys(problems))


def test_stateful_links_keep_the_contract(live: ServiceServer, sim_server: Sim) -> None:
    """The stateful phase: create, then follow the links to get, check, cancel, delivery."""
    before = len(sim_server.all_messages())
    problems = run_schemathesis(
        live.url,
        {
            "examples": {"enabled": False},
            "coverage": {"enabled": False},
            "fuzzing": {"enabled": False},
            "stateful": {"enabled": True, "max-steps": 8},
        },
        unique_idempotency=True,
        # The verification's own links; history, stats and admin reads would take the
        # few steps a scenario has and leave creates to chance. A verification's history
        # (/events) outlives its cancel by design: not a use after free.
        path_regex="^/v1/verifications(?!.*/events$)",
    )
    assert not problems, "\n\n".join(dict.fromkeys(problems))
    # Not vacuous: the run really created verifications (an SMS each) to follow links from.
    assert len(sim_server.all_messages()) > before, "the stateful run sent no code at all"
