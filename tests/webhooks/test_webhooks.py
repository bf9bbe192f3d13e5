"""Webhooks on a single Redis: signed deliveries, filters, retries, 410, dead letters, the
backlog bound and the per-endpoint concurrency limit, the admin endpoint."""

from __future__ import annotations

import json
import time

import httpx
import redis

from otpservice.webhooks_config import endpoint_id
from tests.support.receiver import Receiver, running_receiver
from tests.webhooks.conftest import (
    ADMIN_KEY,
    ServiceFactory,
    Sim,
    hooks_env,
    wait_until,
    wrong,
)

PHONE = "+905321234567"


def emit(redis_url: str, etype: str, *, client: str = "web", part: int | str = 3) -> str:
    """An entry in the event log as the scripts write it (CONTRACT.md 2); its public id."""
    r = redis.Redis.from_url(redis_url)
    tag = "{g}" if part == "g" else f"{{p{part}}}"
    entry = r.xadd(
        f"otp:{tag}:ev",
        {
            "t": etype,
            "c": client,
            "v": "ab" * 32,
            "cc": "TR",
            "px": "9053212",
            "ph": "+90532123****",
            "d": json.dumps({"n": 1}),
        },
    )
    r.close()
    return f"evt_{part}_{entry.decode()}"


def wait_for_group(redis_url: str, group: str = "webhooks-") -> None:
    """The service's consumer group exists on every stream (it reads from then on)."""
    r = redis.Redis.from_url(redis_url)

    def ready() -> bool:
        try:
            return all(
                any(g["name"].startswith(group.encode()) for g in r.xinfo_groups(stream))
                for stream in [f"otp:{{p{p}}}:ev" for p in range(16)] + ["otp:{g}:ev"]
            )
        except redis.ResponseError:
            return False

    wait_until(ready, 10)
    r.close()


def admin(api_url: str) -> httpx.Client:
    return httpx.Client(
        base_url=api_url,
        headers={"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"},
        timeout=10,
    )


def test_the_events_of_a_flow_arrive_signed_and_filtered(
    make_service: ServiceFactory, sim: Sim, receiver: Receiver
) -> None:
    with running_receiver() as approvals:
        env = hooks_env(("web", receiver, ["*"]), ("web", approvals, ["verification.approved"]))
        with make_service(**env) as api:
            vid = api.create(PHONE).json()["id"]
            code = sim.last_code(PHONE[1:])
            assert api.check(vid, wrong(code)).json()["valid"] is False
            assert api.check(vid, code).json()["status"] == "approved"
            expected = [
                "verification.created",
                "send.accepted",
                "check.failed",
                "delivery.delivered",
                "verification.approved",
            ]
            receiver.wait_for(lambda r: sorted(r.types()) == sorted(expected))
            approvals.wait_for(lambda r: len(r.deliveries) == 1)
    assert all(d.verified for d in receiver.deliveries + approvals.deliveries)
    assert approvals.types() == ["verification.approved"]
    by_type = {d.json["type"]: d for d in receiver.deliveries}
    approved = by_type["verification.approved"]
    assert set(approved.json) == {"type", "timestamp", "data"}
    assert approved.json["data"]["verification_id"] == vid
    assert approved.json["data"]["phone"] == "+90532123****"
    assert approved.id.startswith("evt_") and approved.id == approved.json["data"]["id"]
    assert approvals.deliveries[0].id == approved.id  # one event, one id, at every endpoint
    assert all(code not in d.body.decode() for d in receiver.deliveries)


def test_500_three_times_then_200_is_four_attempts_and_no_more(
    make_service: ServiceFactory, redis_url: str
) -> None:
    with (
        running_receiver(lambda n, path: (500 if n < 3 else 200, 0.0)) as rcv,
        make_service(**hooks_env(("web", rcv, ["*"]))),
    ):
        wait_for_group(redis_url)
        event = emit(redis_url, "verification.approved")
        rcv.wait_for(lambda r: len(r.for_id(event)) == 4)
        time.sleep(1.0)  # ten retry delays: nothing more comes
        attempts = rcv.for_id(event)
    assert [d.status for d in attempts] == [500, 500, 500, 200]
    assert all(d.verified for d in attempts)
    assert len({d.headers["webhook-timestamp"] for d in attempts}) >= 1


def test_exhausted_retries_are_dead_letters_the_admin_lists_and_resends(
    make_service: ServiceFactory, redis_url: str
) -> None:
    failing = True
    with (
        running_receiver(lambda n, path: (503 if failing else 204, 0.0)) as rcv,
        make_service(**hooks_env(("web", rcv, ["*"]))) as api,
    ):
        wait_for_group(redis_url)
        event = emit(redis_url, "check.failed")
        eid = endpoint_id("web", rcv.url)
        ops = admin(api.base_url)
        wait_until(
            lambda: ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()["total"] == 1,
            10,
        )
        page = ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()
        assert len(rcv.for_id(event)) == 5  # the first attempt and four retries
        dead = page["dead_letters"][0]
        assert dead["event_id"] == event and dead["type"] == "check.failed"
        assert dead["reason"] == "exhausted" and dead["attempts"] == 5
        assert dead["last_status"] == "503"
        metrics = api.http.get("/metrics").text
        assert f'otp_webhook_dead_letters_total{{endpoint="{eid}",reason="exhausted"}} 1.0' in (
            metrics
        )
        failing = False
        resent = ops.post(f"/v1/admin/webhooks/{eid}/dead-letters/{event}/resend")
        assert resent.status_code == 202 and resent.json() == {"queued": 1}
        rcv.wait_for(lambda r: event in r.accepted_ids())
        wait_until(lambda: ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()["total"] == 0)
        again = ops.post(f"/v1/admin/webhooks/{eid}/dead-letters/{event}/resend")
        assert again.status_code == 404 and again.json()["code"] == "dead_letter_not_found"


def test_410_disables_the_endpoint_until_an_admin_enables_it(
    make_service: ServiceFactory, redis_url: str
) -> None:
    gone = True
    with (
        running_receiver(lambda n, path: (410 if gone else 200, 0.0)) as rcv,
        make_service(**hooks_env(("web", rcv, ["*"]))) as api,
    ):
        wait_for_group(redis_url)
        first = emit(redis_url, "verification.created")
        eid = endpoint_id("web", rcv.url)
        ops = admin(api.base_url)

        def endpoint() -> dict[str, object]:
            listed = ops.get("/v1/admin/webhooks").json()["endpoints"]
            found: dict[str, object] = next(e for e in listed if e["id"] == eid)
            return found

        wait_until(lambda: endpoint()["disabled"] is True)
        second = emit(redis_url, "verification.created")
        wait_until(lambda: endpoint()["dead_letters"] == 2)
        time.sleep(0.3)  # ample time for retries, had a 410 been retried
        assert len(rcv.for_id(first)) == 1 and rcv.for_id(second) == []  # no retry of a 410
        reasons = {
            d["event_id"]: d["reason"]
            for d in ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()["dead_letters"]
        }
        assert reasons == {first: "endpoint_gone", second: "endpoint_disabled"}
        gone = False
        assert ops.post(f"/v1/admin/webhooks/{eid}/enable").json()["disabled"] is False
        assert ops.post(f"/v1/admin/webhooks/{eid}/dead-letters/resend").json() == {"queued": 2}
        rcv.wait_for(lambda r: {first, second} <= r.accepted_ids())


def test_a_full_backlog_overflows_into_dead_letters_and_in_flight_stays_bounded(
    make_service: ServiceFactory, redis_url: str
) -> None:
    # A slow endpoint: what waits, waits in Redis (3 at most), never in memory.
    with running_receiver(lambda n, path: (200, 0.7)) as rcv:
        env = hooks_env(
            ("web", rcv, ["send.failed"]),
            OTP_WEBHOOK_MAX_BACKLOG="3",
            OTP_WEBHOOK_CONCURRENCY="2",
            OTP_WEBHOOK_TIMEOUT_SECONDS="2",
        )
        with make_service(**env) as api:
            wait_for_group(redis_url)
            events = [emit(redis_url, "send.failed", part=p) for p in range(6)]
            eid = endpoint_id("web", rcv.url)
            ops = admin(api.base_url)
            wait_until(
                lambda: ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()["total"] == 3,
                10,
            )
            page = ops.get(f"/v1/admin/webhooks/{eid}/dead-letters").json()
            state = ops.get("/v1/admin/webhooks").json()["endpoints"][0]
            # Creates still answer while the endpoint is slow: deliveries are not requests' work.
            assert api.create(PHONE).status_code == 201
            queued = set(events) - {d["event_id"] for d in page["dead_letters"]}
            rcv.wait_for(lambda r: queued <= r.accepted_ids())
            metrics = api.http.get("/metrics").text
    assert {d["reason"] for d in page["dead_letters"]} == {"overflow"}
    assert len(queued) == 3 and state["backlog"] <= 3
    assert f'otp_webhook_dead_letters_total{{endpoint="{eid}",reason="overflow"}} 3.0' in metrics
    assert rcv.max_in_flight <= 2


def test_redirects_are_not_followed(make_service: ServiceFactory, redis_url: str) -> None:
    with (
        running_receiver(lambda n, path: (307, 0.0) if path == "/hook" else (200, 0.0)) as rcv,
        make_service(**hooks_env(("web", rcv, ["*"]))),
    ):
        wait_for_group(redis_url)
        event = emit(redis_url, "verification.canceled")
        rcv.wait_for(lambda r: len(r.for_id(event)) >= 2)
    assert {d.path for d in rcv.for_id(event)} == {"/hook"}


def test_clients_get_their_own_events_and_star_gets_all(
    make_service: ServiceFactory, redis_url: str, receiver: Receiver
) -> None:
    with running_receiver() as ops_hook:
        env = hooks_env(("other", receiver, ["*"]), ("*", ops_hook, ["prefix.*", "provider.*"]))
        with make_service(**env):
            wait_for_group(redis_url)
            web = emit(redis_url, "send.accepted", client="web")
            mine = emit(redis_url, "send.accepted", client="other")
            shared = emit(redis_url, "prefix.blocked", client="", part="g")
            receiver.wait_for(lambda r: mine in r.ids())
            ops_hook.wait_for(lambda r: shared in r.ids())
            time.sleep(0.3)  # time for a misrouted delivery to show up
    assert receiver.ids() == {mine}
    assert ops_hook.ids() == {shared}
    assert web not in receiver.ids() | ops_hook.ids()


def test_the_admin_endpoints_need_an_admin_key(
    make_service: ServiceFactory, receiver: Receiver
) -> None:
    with make_service(**hooks_env(("web", receiver, ["*"]))) as api:
        assert api.http.get("/v1/admin/webhooks").status_code == 403
        assert httpx.get(f"{api.base_url}/v1/admin/webhooks").status_code == 401
        ops = admin(api.base_url)
        listed = ops.get("/v1/admin/webhooks").json()["endpoints"]
        missing = ops.get("/v1/admin/webhooks/we_000000000000/dead-letters")
    assert [e["url"] for e in listed] == [receiver.url]
    assert receiver.secret not in json.dumps(listed)
    assert missing.status_code == 404 and missing.json()["code"] == "webhook_not_found"
    assert missing.headers["content-type"].startswith("application/problem+json")
