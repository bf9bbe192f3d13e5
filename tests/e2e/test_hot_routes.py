"""The hot routes (api/hot.py) answer exactly as the Litestar routes they stand in for.

Against ``otpservice serve``. ``/v1/verifications/`` (trailing slash) is the same Litestar
route but never the hot path, and an id with a character outside the hot path's alphabet
goes to Litestar too: so each answer of the hot path is compared with Litestar's answer to
the same request. The requests the hot path hands on (bodies in pieces, over the limit, not
UTF-8, ambiguous keys, Idempotency-Keys Litestar refuses) get Litestar's answers.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.e2e.conftest import WEB_KEY, Api, Sim, service_env, wrong
from tests.support.servers import RedisProcess, ServiceServer

PHONE = "+905321234567"
REFUSED_IP = "198.51.100.7"
AUTH = {"Authorization": f"Bearer {WEB_KEY}"}
JSON = {"Content-Type": "application/json"}
VOLATILE = {"x-request-id", "date", "content-length"}


@pytest.fixture(scope="module")
def api(redis_server: RedisProcess, sim_server: Sim) -> Iterator[Api]:
    db = redis.Redis.from_url(redis_server.url)
    db.flushall()
    db.close()
    sim_server.reset()
    env = service_env(
        redis_server.url,
        sim_server,
        OTP_LIMIT_IP_HOUR="1",
        OTP_MAX_BODY_BYTES="1024",
        OTP_SERVER_BODY_TIMEOUT_SECONDS="1",
    )
    with ServiceServer(env) as server:
        yield Api(server.url)


def headers_of(r: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in r.headers.items() if k not in VOLATILE}


def same_answer(hot: httpx.Response, litestar: httpx.Response) -> None:
    assert hot.status_code == litestar.status_code, (hot.text, litestar.text)
    assert headers_of(hot) == headers_of(litestar)
    assert hot.content == litestar.content


def test_a_refused_send_is_answered_as_litestar_answers_it(api: Api) -> None:
    body = {"phone": PHONE, "client_ip": REFUSED_IP}
    assert api.http.post("/v1/verifications", json=body).status_code == 201
    hot = api.http.post("/v1/verifications", json={**body, "phone": "+905321234568"})
    litestar = api.http.post("/v1/verifications/", json={**body, "phone": "+905321234568"})
    assert hot.status_code == 429 and hot.json()["policy"] == "ip_hour"
    assert hot.headers["retry-after"].isdigit()
    same_answer(hot, litestar)


def test_domain_errors_are_answered_as_litestar_answers_them(api: Api) -> None:
    for body in (
        {"phone": "not a phone"},  # 422 invalid_phone, from the domain
        {"phone": "+12025550123"},  # 403 country_not_allowed
        {"phone": PHONE, "client_ip": "300.1.2.3"},  # 422 invalid_request
        {"phone": PHONE, "rate_limit_keys": {"BAD NAME": "x"}},  # 422
    ):
        hot = api.http.post("/v1/verifications", json=body)
        litestar = api.http.post("/v1/verifications/", json=body)
        assert hot.status_code in {403, 422}, hot.text
        same_answer(hot, litestar)


def test_an_unknown_check_is_answered_as_litestar_answers_it(api: Api) -> None:
    hot = api.http.post("/v1/verifications/" + "0" * 64 + "/check", json={"code": "123456"})
    # "~" is outside the hot path's id alphabet: Litestar routes it.
    litestar = api.http.post("/v1/verifications/" + "0" * 63 + "~/check", json={"code": "123456"})
    assert hot.status_code == 404
    same_answer(hot, litestar)


def test_a_wrong_code_is_counted_once_and_answered_as_usual(api: Api, sim_server: Sim) -> None:
    created = api.http.post("/v1/verifications", json={"phone": "+905321234599"})
    assert created.status_code == 201, created.text
    vid = created.json()["id"]
    code = sim_server.last_code("905321234599")
    first = api.http.post(f"/v1/verifications/{vid}/check", json={"code": wrong(code)})
    assert first.status_code == 200 and first.json()["valid"] is False
    left = first.json()["attempts_remaining"]
    right = api.http.post(f"/v1/verifications/{vid}/check", json={"code": code})
    assert right.json() == {
        "id": vid,
        "status": "approved",
        "valid": True,
        "attempts_remaining": left - 1,
    }


def raw_exchange(api: Api, chunks: list[bytes], pause: float = 0.05) -> bytes:
    """Send a request in pieces over one connection; the whole answer."""
    url = httpx.URL(api.base_url)
    with socket.create_connection((url.host, url.port), timeout=10) as sock:
        for chunk in chunks:
            sock.sendall(chunk)
            time.sleep(pause)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, rest = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        while len(rest) < length:
            rest += sock.recv(65536)
        return head + b"\r\n\r\n" + rest


def request_head(path: str, length: int, extra: str = "") -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {WEB_KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n{extra}"
        "Connection: close\r\n\r\n"
    ).encode()


def status_and_body(answer: bytes) -> tuple[int, dict[str, Any]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_a_body_in_pieces_is_read_whole(api: Api) -> None:
    body = json.dumps({"phone": "+905321234511"}).encode()
    answer = raw_exchange(
        api, [request_head("/v1/verifications", len(body)), body[:5], body[5:17], body[17:]]
    )
    status, out = status_and_body(answer)
    assert status == 201, out
    assert out["phone"] == "+90532123****"


def test_a_stalled_body_gets_litestars_408(api: Api) -> None:
    body = json.dumps({"phone": "+905321234512"}).encode()
    answer = raw_exchange(api, [request_head("/v1/verifications", len(body)), body[:5]], 1.6)
    status, out = status_and_body(answer)
    assert status == 408 and out["code"] == "request_timeout"


def test_what_the_hot_path_hands_on_gets_litestars_answer(api: Api) -> None:
    too_large = b'{"phone": "' + b"1" * 2000 + b'"}'
    r = api.http.post("/v1/verifications", content=too_large, headers=JSON)
    assert r.status_code == 413 and r.json()["code"] == "body_too_large"
    r = api.http.post("/v1/verifications", content=b'{"phone": "\xff"}', headers=JSON)
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = api.http.post(
        "/v1/verifications",
        json={"phone": PHONE},
        headers={"Idempotency-Key": "k" * 256},
    )
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    r = api.http.post(
        "/v1/verifications",
        content=b'{"phone": "+905321234567"}',
        headers={"Content-Type": "text/plain"},
    )
    assert r.status_code == 415
    two_keys = [("Authorization", f"Bearer {WEB_KEY}"), ("Authorization", "Bearer other")]
    r = httpx.post(api.base_url + "/v1/verifications", json={"phone": PHONE}, headers=two_keys)
    assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
    r = httpx.post(
        api.base_url + "/v1/verifications",
        json={"phone": PHONE},
        headers={"Authorization": "Bearer unknown"},
    )
    assert r.status_code == 401


def test_an_idempotency_key_replays_on_the_hot_path(api: Api) -> None:
    body = {"phone": "+905321234513"}
    first = api.http.post("/v1/verifications", json=body, headers={"Idempotency-Key": "hot-1"})
    again = api.http.post("/v1/verifications", json=body, headers={"Idempotency-Key": "hot-1"})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()


def test_metrics_and_request_lines_name_the_route_template(api: Api) -> None:
    api.http.post("/v1/verifications/" + "1" * 64 + "/check", json={"code": "123456"})
    text = api.http.get("/metrics").text
    assert 'route="/v1/verifications/{verification_id}/check"' in text
    assert 'route="/v1/verifications"' in text
    assert "1" * 64 not in text
