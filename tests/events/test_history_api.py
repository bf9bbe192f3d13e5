"""History and statistics over HTTP for a scripted mix of flows: sent, approved, expired,
exhausted and refused, by two clients; an admin key sees both."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import ADMIN_KEY, OTHER_KEY, Api, ServiceFactory, Sim, wait_until, wrong

APPROVED = ("+905321110001", "+905321110002", "+905441110003")  # two prefixes, all approved
EXPIRES = "+905321110004"  # left pending: expires
EXHAUSTED = "+905441110005"  # two wrong codes with OTP_MAX_CHECKS=2
OTHERS = "+905551110006"  # the other client's, approved


def _all_pages(api: Api, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = api.http.get("/v1/events", params=query)
        assert page.status_code == 200, page.text
        body = page.json()
        found += body["events"]
        cursor = body["next_cursor"]
        if cursor is None:
            return found


@pytest.fixture
def mix(make_service: ServiceFactory, sim: Sim) -> Any:
    env = {
        "OTP_CODE_TTL_SECONDS": "2",
        "OTP_EXPIRY_SWEEP_SECONDS": "0.1",
        "OTP_MAX_CHECKS": "2",
        "OTP_RESEND_COOLDOWN_SECONDS": "30",
    }
    with make_service(**env) as api:
        other = api.as_client(OTHER_KEY)
        ids: dict[str, str] = {}
        for phone in APPROVED:
            ids[phone] = api.create(phone).json()["id"]
            assert api.check(ids[phone], sim.last_code(phone[1:])).status_code == 200
        ids[EXPIRES] = api.create(EXPIRES).json()["id"]
        assert api.create(EXPIRES).status_code == 429  # refused: resend_cooldown
        ids[EXHAUSTED] = api.create(EXHAUSTED).json()["id"]
        code = sim.last_code(EXHAUSTED[1:])
        assert api.check(ids[EXHAUSTED], wrong(code)).status_code == 200
        assert api.check(ids[EXHAUSTED], wrong(code)).json()["status"] == "max_attempts_reached"
        assert api.check(ids[EXHAUSTED][:32] + "f" * 32, "123456").status_code == 404  # refused
        ids[OTHERS] = other.create(OTHERS).json()["id"]
        assert other.check(ids[OTHERS], sim.last_code(OTHERS[1:])).status_code == 200
        admin = api.as_client(ADMIN_KEY)

        def settled() -> bool:
            total = admin.http.get("/v1/stats").json()["total"]
            return total["expired"] == 1 and total["started"] == 6

        wait_until(settled, timeout=8)
        yield api, other, admin, ids


def test_history_pages_newest_first_per_client_and_filters(mix: Any) -> None:
    api, other, admin, ids = mix
    mine = _all_pages(api, limit=2)
    times = [(e["time"], e["id"]) for e in mine]
    assert times == sorted(times, reverse=True) and len({e["id"] for e in mine}) == len(mine)
    assert {e["client"] for e in mine} == {"web"}
    assert len(mine) == 3 * 3 + 3 + 5  # approved flows, the expired one, the exhausted one
    assert [e["type"] for e in _all_pages(other)] == [
        "verification.approved",
        "send.accepted",
        "verification.created",
    ]
    everyone = _all_pages(admin, limit=7)
    assert len(everyone) == len(mine) + 3
    assert [e["id"] for e in _all_pages(admin, client="other")] == [
        e["id"] for e in _all_pages(other)
    ]
    # Filters: phone (any form), verification id, type; and a time window.
    by_phone = _all_pages(api, phone="0532 111 00 04")
    assert [e["type"] for e in by_phone] == [
        "verification.expired",
        "send.accepted",
        "verification.created",
    ]
    assert all(e["phone"] == "+90532111****" and e["prefix"] == "90532111" for e in by_phone)
    assert _all_pages(api, verification_id=ids[EXHAUSTED])[0]["type"] == (
        "verification.max_attempts_reached"
    )
    approvals = _all_pages(api, type="verification.approved,verification.expired")
    assert sorted(e["verification_id"] for e in approvals) == sorted(
        [ids[p] for p in APPROVED] + [ids[EXPIRES]]
    )
    assert _all_pages(api, phone=OTHERS) == []  # the other client's number: nothing of ours
    newest = mine[0]["time"]
    assert _all_pages(api, since=newest) == [mine[0]]
    for bad in ({"since": "yesterday"}, {"cursor": "evt_99_1-0"}, {"phone": "not a phone"}):
        r = api.http.get("/v1/events", params=bad)
        assert r.status_code in (400, 422) and r.json()["code"] in (
            "invalid_request",
            "invalid_phone",
        ), bad


def test_a_verification_history_outlives_it_and_stays_with_its_client(mix: Any) -> None:
    api, other, admin, ids = mix
    vid = ids[APPROVED[0]]
    assert api.get(vid).status_code == 404  # the fetch keeps its single 404
    history = api.http.get(f"/v1/verifications/{vid}/events")
    assert history.status_code == 200
    assert [e["type"] for e in history.json()["events"]] == [
        "verification.created",
        "send.accepted",
        "verification.approved",
    ]
    assert admin.http.get(f"/v1/verifications/{vid}/events").status_code == 200
    foreign = other.http.get(f"/v1/verifications/{vid}/events")
    unknown = api.http.get(f"/v1/verifications/{vid[:32]}{'0' * 32}/events")
    assert foreign.status_code == unknown.status_code == 404
    assert foreign.json() == unknown.json()


def test_statistics_for_the_mix_with_conversion_per_country_and_prefix(mix: Any) -> None:
    api, _, admin, _ = mix
    by_prefix = {g["key"]: g for g in api.http.get("/v1/stats?group_by=prefix").json()["groups"]}
    assert by_prefix["90532111"]["started"] == 3  # two approved, one expired
    assert by_prefix["90532111"]["approved"] == 2
    assert by_prefix["90532111"]["conversion"] == pytest.approx(2 / 3, abs=1e-4)
    assert by_prefix["90544111"]["started"] == 2  # one approved, one exhausted
    assert by_prefix["90544111"]["conversion"] == 0.5
    assert by_prefix["90544111"]["exhausted"] == 1
    assert "90555111" not in by_prefix  # the other client's
    mine = api.http.get("/v1/stats?group_by=country").json()
    by_country = {g["key"]: g for g in mine["groups"]}
    tr = by_country["TR"]
    assert tr["started"] == 5 and tr["approved"] == 3 and tr["expired"] == 1
    assert tr["sms_sent"] == 5 and tr["sms_parts"] == 5
    assert tr["conversion"] == 0.6
    assert tr["refusals"] == {"resend_cooldown": 1}
    # A check of an unknown id names no country: it is counted under "".
    assert by_country[""]["refusals"] == {"not_found": 1} and by_country[""]["started"] == 0
    assert mine["total"]["refusals"] == {"not_found": 1, "resend_cooldown": 1}
    everyone = admin.http.get("/v1/stats?group_by=client").json()
    rows = {g["key"]: g for g in everyone["groups"]}
    assert rows["web"]["started"] == 5 and rows["other"]["started"] == 1
    assert everyone["total"]["approved"] == 4
    assert everyone["total"]["conversion"] == pytest.approx(4 / 6, abs=1e-4)
    by_day = api.http.get("/v1/stats?group_by=hour").json()["groups"]
    assert sum(g["started"] for g in by_day) == 5
    assert api.http.get("/v1/stats?group_by=planet").status_code in (400, 422)
