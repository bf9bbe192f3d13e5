"""The overview's provider panel: each account's balance and each provider's breaker, as
Redis and the provider say, with two Turkey SMS accounts of the simulator."""

from __future__ import annotations

import json

from playwright.sync_api import BrowserContext

from tests.e2e.conftest import PROVIDER_KEY, Sim, service_env
from tests.e2e.console.conftest import Console
from tests.support.servers import ServiceServer

BACKUP_KEY = "sim-backup-key-console-1"


def _account(name: str, sim: Sim, key: str, sender: str) -> dict[str, object]:
    return {
        "name": name,
        "kind": "turkeysms",
        "base_url": sim.api,
        "api_key": key,
        "sender_id": sender,
        "code_source": "provider",
        "timeout_seconds": 1,
    }


def test_balances_per_account_and_an_open_breaker_are_shown(
    redis_url: str, sim: Sim, context: BrowserContext
) -> None:
    sim.http.post("/_admin/accounts", json={"api_key": BACKUP_KEY, "sender_id": "BACKUP"})
    sim.account(local_balance_sms=0)  # main can send nothing: every send fails over
    env = service_env(
        redis_url,
        sim,
        OTP_CONSOLE="true",
        OTP_PROVIDERS=json.dumps(
            [
                _account("main", sim, PROVIDER_KEY, "OTPSVC"),
                _account("backup", sim, BACKUP_KEY, "BACKUP"),
            ]
        ),
        OTP_ROUTES=json.dumps({"default": ["main", "backup"]}),
        OTP_PROVIDER_API_KEY="",
        OTP_PROVIDER_BASE_URL="",
        OTP_PROVIDER_SENDER_ID="",
        OTP_BREAKER_MIN_FAILURES="2",
        OTP_BREAKER_FAILURE_RATE="0.5",
        OTP_BREAKER_COOLOFF_SECONDS="600",
    )
    with ServiceServer(env) as server:
        console = Console(server, context.new_page())
        for phone in ("+905321110111", "+905321110112"):
            assert console.api.create(phone).status_code == 201  # sent by backup
        console.sign_in()
        page = console.goto("/console/overview")
        main = page.inner_text("#balance-main")
        assert "0" in main and "low" in main
        assert "low" not in page.inner_text("#balance-backup")
        assert "open" in page.inner_text("#breaker-main")
        assert "closed" in page.inner_text("#breaker-backup")
        # The opening is an alert, at the top of the page.
        assert page.locator("#alerts tr.ev-provider-breaker_opened").count() == 1
        console.shot("overview-providers")
        assert PROVIDER_KEY not in console.seen() and BACKUP_KEY not in console.seen()
