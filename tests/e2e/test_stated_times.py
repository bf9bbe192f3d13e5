"""Times the API states never promise early: a client that waits exactly until the stated
time (or for exactly Retry-After seconds) and then acts is served, end to end over HTTP."""

from __future__ import annotations

import datetime as dt
import time

import httpx

from tests.e2e.conftest import ServiceFactory, Sim, wrong


def _epoch(stamp: str) -> float:
    return dt.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


def _sleep_until(epoch: float) -> None:
    time.sleep(max(0.0, epoch - time.time()))


def _wait_header(r: httpx.Response) -> int:
    assert r.status_code == 429, r.text
    header = int(r.headers["Retry-After"])
    assert r.json()["retry_after"] == header  # body and header say the same
    return header


def test_a_resend_at_resend_available_at_is_accepted(
    make_service: ServiceFactory, sim: Sim
) -> None:
    # Three numbers, so that a stated time truncated to the second (early by the send's
    # fraction of a second) would be caught at least once.
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="1") as api:
        for n in range(3):
            phone = f"+90532123450{n}"
            first = api.create(phone)
            assert first.status_code == 201
            stated = _epoch(first.json()["resend_available_at"])
            _sleep_until(stated)
            again = api.create(phone)
            assert again.status_code == 201, again.text
            assert again.json()["sends"] == 2


def test_a_resend_after_retry_after_is_accepted(make_service: ServiceFactory, sim: Sim) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="2") as api:
        phone = "+905321234510"
        first = api.create(phone).json()
        early = api.create(phone)
        wait = _wait_header(early)
        assert early.json()["policy"] == "resend_cooldown"
        # The header and the stated time agree: waiting for either is never early.
        assert time.time() + wait >= _epoch(first["resend_available_at"]) - 1
        time.sleep(wait)
        assert api.create(phone).status_code == 201


def test_a_check_after_the_delays_retry_after_is_not_refused(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(
        OTP_CHECK_FREE_FAILURES="1",
        OTP_CHECK_DELAY_BASE_SECONDS="1.3",
        OTP_MAX_CHECKS="5",
    ) as api:
        phone = "+905321234520"
        vid = api.create(phone).json()["id"]
        code = sim.last_code(phone)
        assert api.check(vid, wrong(code)).status_code == 200  # arms a 1.3 s delay
        delayed = api.check(vid, code)
        wait = _wait_header(delayed)
        assert delayed.json()["policy"] == "check_delay"
        assert wait >= 1
        time.sleep(wait)
        assert api.check(vid, code).json()["status"] == "approved"


def test_expires_at_is_exact_to_the_second_both_ways(
    make_service: ServiceFactory, sim: Sim
) -> None:
    """The code works until the stated expires_at, and from then on a create starts a new
    verification (with max_sends 1, one a moment early would be refused as a resend)."""
    with make_service(OTP_CODE_TTL_SECONDS="2", OTP_MAX_SENDS="1") as api:
        phones = [f"+90532123453{n}" for n in range(4)]
        created = [api.create(phone).json() for phone in phones]
        until = _epoch(created[0]["expires_at"])
        _sleep_until(until - 0.3)
        approved = api.check(created[0]["id"], sim.last_code(phones[0]))
        assert approved.json()["status"] == "approved", approved.text
        for phone, first in zip(phones[1:], created[1:], strict=True):
            _sleep_until(_epoch(first["expires_at"]))
            again = api.create(phone)
            assert again.status_code == 201, again.text
            assert again.json()["id"] != first["id"] and again.json()["sends"] == 1
