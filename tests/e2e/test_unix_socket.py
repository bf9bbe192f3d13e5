"""Redis on the same host over a Unix socket (``OTP_REDIS_URL=unix:///path/redis.sock``), as
README's production notes recommend: a send, the check of the code from the inbox, and the
state in that Redis, through ``otpservice serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import Api, Sim, service_env, wrong
from tests.support.servers import RedisProcess, ServiceServer

MOBILE = "905321234599"


@pytest.fixture(scope="module")
def unix_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    directory = tmp_path_factory.mktemp("redis-unix")
    sock = directory / "redis.sock"
    server = RedisProcess(
        directory, args=("--unixsocket", str(sock), "--unixsocketperm", "700")
    ).start()
    yield sock
    server.stop()


def test_a_flow_runs_over_a_unix_socket(unix_redis: Path, sim: Sim) -> None:
    env = service_env(f"unix://{unix_redis}", sim)
    with ServiceServer(env) as server:
        api = Api(server.url)
        created = api.create("+" + MOBILE)
        assert created.status_code == 201, created.text
        vid = created.json()["id"]
        code = sim.last_code(MOBILE)
        wrong_answer = api.check(vid, wrong(code))
        assert wrong_answer.status_code == 200 and wrong_answer.json()["valid"] is False
        right = api.check(vid, code)
        assert right.status_code == 200 and right.json()["valid"] is True
        ready = api.http.get("/readyz")
        assert ready.status_code == 200, ready.text
    db = redis.Redis(unix_socket_path=str(unix_redis))
    try:
        assert db.dbsize() > 0  # the service's state is in this Redis
    finally:
        db.close()
