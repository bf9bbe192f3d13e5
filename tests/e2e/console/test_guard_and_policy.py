"""The fraud guard and the runtime policy from the console: a block shown with its evidence
and lifted with the button; a budget changed in the editor, and the API obeying it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import BrowserContext

from tests.e2e.conftest import Sim, service_env
from tests.e2e.console.conftest import Console
from tests.support.servers import ServiceServer

# The guard's numbers made small (as tests/e2e/test_fraud_guard.py does): three unconverted
# numbers judge a prefix at once.
GUARD = {
    "OTP_GUARD_MIN_SENDS": "3",
    "OTP_GUARD_SETTLE_SECONDS": "0",
    "OTP_GUARD_MIN_CONVERSION": "0.5",
    "OTP_PREFIX_BURST_NUMBERS": "0",
}
PREFIX = "90532111"


@pytest.fixture
def guarded(redis_url: str, sim: Sim, context: BrowserContext) -> Iterator[Console]:
    env = service_env(redis_url, sim, OTP_CONSOLE="true", **GUARD)
    with ServiceServer(env) as server:
        yield Console(server, context.new_page())


def test_a_guard_block_is_shown_with_its_evidence_and_lifted_by_the_button(
    guarded: Console,
) -> None:
    console = guarded
    for i in range(3):
        assert console.api.create(f"+{PREFIX}{i:04d}").status_code == 201
    refused = console.api.create(f"+{PREFIX}0003")
    assert refused.status_code == 429 and refused.json()["policy"] == "fraud_guard"

    console.sign_in()
    page = console.goto("/console/countries")
    row = page.locator(f"#blocks tr.block-row[data-subject='{PREFIX}']")
    assert row.count() == 1
    assert "0 approvals for 3 sends" in row.inner_text()
    assert "strikes=1" in row.inner_text()
    console.shot("countries-blocked")

    with page.expect_navigation():
        row.locator("button").click()
    console.seen()
    assert page.locator(f"#blocks tr.block-row[data-subject='{PREFIX}']").count() == 0
    assert page.locator("#no-blocks").count() == 1
    # Lifted for the API too: the prefix sends again.
    assert console.api.create(f"+{PREFIX}0004").status_code == 201
    assert not console.csp_violations


def test_a_budget_changed_in_the_editor_is_obeyed_and_a_bad_value_changes_nothing(
    console: Console,
) -> None:
    console.sign_in()
    page = console.goto("/console/countries")
    field = page.locator("#f-OTP_LIMIT_PHONE_10M")
    assert field.input_value() == ""  # the built-in default (3)
    field.fill("1")
    with page.expect_navigation():
        page.click("#policy-form button[type=submit]")
    console.seen()
    assert "OTP_LIMIT_PHONE_10M" in page.inner_text("#policy [role=status]")
    assert page.locator("label[for=f-OTP_LIMIT_PHONE_10M] .source").inner_text() == "runtime"

    # The API obeys at once: one send per phone per 10 minutes now.
    assert console.api.create("+905321234567").status_code == 201
    refused = console.api.create("+905321234567", purpose="signup")
    assert refused.status_code == 429 and refused.json()["policy"] == "phone_10m"

    # A value the environment would refuse is shown next to its field; nothing changes.
    page.locator("#f-OTP_LIMIT_PHONE_10M").fill("lots")
    page.locator("#f-OTP_MAX_CHECKS").fill("2")
    with page.expect_navigation():
        page.click("#policy-form button[type=submit]")
    console.seen()
    assert "OTP_LIMIT_PHONE_10M must be a whole number" in page.inner_text("#e-OTP_LIMIT_PHONE_10M")
    assert page.locator("#e-OTP_MAX_CHECKS").count() == 0
    policy = console.admin_api.http.get("/v1/admin/policies").json()
    values = {v["name"]: v for v in policy["variables"]}
    assert values["OTP_LIMIT_PHONE_10M"]["value"] == "1"
    assert values["OTP_MAX_CHECKS"]["source"] == "default"  # not applied either
    console.shot("countries-policy-error")
    assert not console.csp_violations
