"""What an operator sees: a flow made through the API shows up in the console's pages, and
no page ever holds a code or a full phone number."""

from __future__ import annotations

import re
import time

from tests.e2e.conftest import Sim, wrong
from tests.e2e.console.conftest import Console

PHONE = "+905321234567"
# Every way the full number could be written into a page.
FULL_FORMS = (PHONE, PHONE[1:], PHONE[3:], "532 123 45 67", "0532 123 45 67")


def _no_code_or_full_phone(html: str, code: str) -> None:
    for form in FULL_FORMS:
        assert form not in html
    assert not re.search(rf"(?<![0-9A-Za-z]){code}(?![0-9A-Za-z])", html)


def test_a_flow_made_through_the_api_shows_live_in_the_overview_and_in_search(
    console: Console, sim: Sim
) -> None:
    console.sign_in()
    page = console.goto("/console/live")
    created = console.api.create(PHONE)
    assert created.status_code == 201
    vid = created.json()["id"]
    code = sim.last_code(PHONE)
    assert console.api.check(vid, wrong(code)).json()["valid"] is False
    assert console.api.check(vid, code).json()["status"] == "approved"

    # Live: the approval appears without a reload.
    page.wait_for_selector("#live-table tr.ev-verification-approved", timeout=15_000)
    assert page.locator("#live-table tr.ev-check-failed").count() >= 1
    console.shot("live")
    _no_code_or_full_phone(console.seen(), code)

    # Overview: the flow in the last hour's numbers once the event log folded it (~1 s).
    deadline = time.monotonic() + 15
    while True:
        page = console.goto("/console/overview")
        if page.inner_text("#stat-hour-started") == "1" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for metric, shown in [
        ("started", "1"),
        ("sent", "1"),
        ("approved", "1"),
        ("conversion", "100.0 %"),
        ("refused", "0"),
    ]:
        assert page.inner_text(f"#stat-hour-{metric}") == shown, metric
        assert page.inner_text(f"#stat-week-{metric}") == shown, metric
    console.shot("overview")
    _no_code_or_full_phone(console.seen(), code)

    # Search by the full number: its history in time order, the number shown masked.
    page = console.goto("/console/search")
    page.fill("#q", "0532 123 45 67")
    with page.expect_navigation():
        page.click("#search-form button")
    types = page.locator("#history tbody tr td:nth-child(2)").all_inner_texts()
    assert types[:2] == ["verification.created", "send.accepted"]
    assert types.index("check.failed") < types.index("verification.approved")
    assert "+90532123****" in page.inner_text("h2")
    console.shot("search")
    _no_code_or_full_phone(console.seen(), code)

    # Search by the verification id finds the same history.
    page.fill("#q", vid)
    with page.expect_navigation():
        page.click("#search-form button")
    assert page.locator("#history tbody tr").count() == len(types)
    _no_code_or_full_phone(console.seen(), code)
    assert not console.csp_violations
