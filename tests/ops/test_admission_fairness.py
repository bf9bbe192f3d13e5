"""Fairness, smoke version (bench/ has the measured one): while one client key floods
`otpservice serve` with refused sends, another client key's people still get codes and
log in, and the flood's excess is shed with 503 and Retry-After before any work."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN_KEY, OTHER_KEY, wait_until
from tests.ops.conftest import Api, Sim, service_env
from tests.ops.test_metrics import scrape, value
from tests.support.processes import serve

FLOOD_PHONE = "+905329990000"


async def _flood(url: str, stop: threading.Event, answers: list[httpx.Response]) -> None:
    headers = {"Authorization": f"Bearer {OTHER_KEY}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=30) as http:

        async def one_connection() -> None:
            while not stop.is_set():
                answers.append(await http.post("/v1/verifications", json={"phone": FLOOD_PHONE}))

        await asyncio.gather(*(one_connection() for _ in range(24)))


def test_a_flooding_client_is_shed_while_another_clients_people_log_in(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    env = service_env(
        redis_url,
        sim,
        OTP_ADMISSION_CLIENT_IN_FLIGHT="2",
        OTP_ADMISSION_QUEUE_SECONDS="0.05",
    )
    with serve(env, tmp_path / "log") as served:
        api = Api(served.url)
        flood = Api(served.url, OTHER_KEY)
        # The flood's number is refused (cooldown, then its budget): cheap refusals.
        for _ in range(3):
            flood.create(FLOOD_PHONE)
        stop = threading.Event()
        answers: list[httpx.Response] = []
        flooder = threading.Thread(target=lambda: asyncio.run(_flood(served.url, stop, answers)))
        flooder.start()
        try:
            logins = []
            for i in range(4):
                phone = f"+90532123{i:04d}"
                created = api.create(phone)
                assert created.status_code == 201, created.text
                code = sim.last_code(phone[1:])
                checked = api.check(created.json()["id"], code)
                logins.append(checked.json()["status"])
        finally:
            stop.set()
            flooder.join(30)
        shed_count = sum(r.status_code == 503 for r in answers)
        # Each shed is a refusal the operator sees: in the metric, and per client in the
        # statistics (written about once a second).
        admin = Api(served.url, ADMIN_KEY)

        def sheds_by_client() -> dict[str, int]:
            stats = admin.http.get("/v1/stats", params={"group_by": "client"}).json()
            return {g["key"]: g["refusals"].get("admission", 0) for g in stats["groups"]}

        wait_until(lambda: sheds_by_client().get("other") == shed_count, timeout=5)
        assert sheds_by_client().get("web", 0) == 0
        assert value(scrape(served.url), "otp_refusals_total", policy="admission") == shed_count
        assert logins == ["approved"] * 4
        statuses = {r.status_code for r in answers}
        assert statuses <= {429, 503}, statuses
        shed = [r for r in answers if r.status_code == 503]
        assert shed, "nothing was shed: the flood never went over its in-flight cap"
        for response in shed[:5]:
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"].startswith("application/problem+json")
            problem = response.json()
            assert problem["code"] == "overloaded"
            assert problem["policy"] == "admission"
        refused = [r for r in answers if r.status_code == 429]
        assert refused and refused[0].json()["code"] == "rate_limited"
