"""A Redis reply lost after the write happened: the 503 says only what is known.

A proxy in front of the real redis-server forwards the script's command, lets Redis run it,
then drops the reply and the connection (tests/support/lossy_proxy.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from otpservice.storage.scripts import load_script_source
from tests.e2e.conftest import Api, Sim, service_env
from tests.support.lossy_proxy import LossyProxy, lossy_proxy
from tests.support.servers import RedisProcess, ServiceServer

PHONE = "+905321234567"


def sha(script: str) -> bytes:
    """The SHA1 that EVALSHA names the script by (Redis's name for it, not a security use)."""
    return hashlib.sha1(load_script_source(script).encode()).hexdigest().encode()  # noqa: S324


@pytest.fixture
def proxied(
    redis_url: str, redis_server: RedisProcess, sim: Sim
) -> Iterator[tuple[Api, LossyProxy]]:
    with (
        lossy_proxy(redis_server.port) as proxy,
        ServiceServer(service_env(proxy.url, sim)) as server,
    ):
        yield Api(server.url), proxy


def test_an_approval_whose_reply_was_lost_is_not_called_unchanged(
    proxied: tuple[Api, LossyProxy], sim: Sim
) -> None:
    api, proxy = proxied
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(PHONE[1:])
    proxy.lose_reply_to(sha("check_approve"))
    r = api.check(vid, code)
    assert proxy.lost == 1
    assert r.status_code == 503, r.text
    detail = r.json()["detail"]
    assert "nothing was changed" not in detail
    assert "may have been recorded" in detail
    # It was recorded: the verification is approved, so it is no longer pending.
    assert api.get(vid).status_code == 404


def test_a_read_whose_reply_was_lost_says_nothing_changed(
    proxied: tuple[Api, LossyProxy], sim: Sim
) -> None:
    api, proxy = proxied
    vid = api.create(PHONE).json()["id"]
    proxy.lose_reply_to(sha("verification_load"))
    r = api.get(vid)
    assert proxy.lost == 1
    assert r.status_code == 503, r.text
    assert "nothing was changed" in r.json()["detail"]
    assert api.get(vid).json()["status"] == "pending"
