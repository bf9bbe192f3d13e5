"""Bad input gets a clear 4xx problem and changes nothing: no SMS, no Redis key.

One service for the module (starting one per case would dominate the run time); every case
compares Redis's DBSIZE and the simulator's inbox before and after.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Api, Sim, record_response, service_env
from tests.support.servers import RedisProcess, ServiceServer

PHONE = "+905321234567"
MOBILE = "905321234567"
CREATE = "/v1/verifications"
CHECK_PHONE = "/v1/verifications/check"
ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


# Written in the background from earlier requests' events: delivery tracking (dq, dv) and
# the statistics folded from the streams (st, stc); and the counts of refusals decided before
# Redis (a malformed id's 404 among them), written once a second (events/refusals.py).
DELIVERY_TRACKING = re.compile(
    rb"^otp:\{p\d+\}:(?:d[qv]|stc?)(?::|$)|^otp:\{g\}:b:delivery_polls$"  # + the poll budget
    rb"|^otp:\{g\}:rf:\d{8}$"
)


class Target:
    def __init__(self, api: Api, db: redis.Redis, sim: Sim) -> None:
        self.api = api
        self.db = db
        self.sim = sim

    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.api.http.request(method, path, **kwargs)

    def _keys(self) -> set[bytes]:
        # Delivery tracking schedules its polls in the background after an earlier accepted
        # send (events/delivery.py), and the sweeper folds earlier events into statistics
        # (events/sweeper.py): those keys may appear at any time, whatever the block.
        return {k for k in self.db.keys("*") if not DELIVERY_TRACKING.search(k)}

    @contextmanager
    def unchanged(self) -> Iterator[None]:
        """The block changes no Redis key and sends no SMS."""
        before = self._keys(), len(self.sim.all_messages())
        yield
        self.api.http.get("/healthz")  # a round trip: anything still in flight has landed
        assert (self._keys(), len(self.sim.all_messages())) == before


@pytest.fixture(scope="module")
def target(redis_server: RedisProcess, sim_server: Sim) -> Iterator[Target]:
    db = redis.Redis.from_url(redis_server.url)
    db.flushall()
    sim_server.reset()
    env = service_env(
        redis_server.url,
        sim_server,
        OTP_RESEND_COOLDOWN_SECONDS="0",
        OTP_MAX_SENDS="20",
        OTP_LIMIT_PHONE_10M="1000",
        OTP_LIMIT_PHONE_24H="1000",
        OTP_LIMIT_PHONE_NET_10M="1000",
        OTP_LIMIT_PHONE_NET_24H="1000",
        OTP_LIMIT_PREFIX_HOUR="10000",
        OTP_LIMIT_PREFIX_DAY="10000",
        OTP_PREFIX_BURST_NUMBERS="0",
        OTP_CHECK_FREE_FAILURES="1000",
    )
    with ServiceServer(env) as server:
        yield Target(Api(server.url), db, sim_server)
    db.close()


def is_problem(r: httpx.Response, status: int, code: str) -> bool:
    return (
        r.status_code == status
        and r.headers["content-type"].startswith("application/problem+json")
        and r.json()["code"] == code
        and r.json()["status"] == status
    )


JSON = {"Content-Type": "application/json"}

MALFORMED_BODIES = [
    pytest.param(b'{"phone": ', id="truncated-json"),
    pytest.param(b"", id="empty-body"),
    pytest.param(b"null", id="null"),
    pytest.param(b'[{"phone": "+905321234567"}]', id="array-not-object"),
    pytest.param(b'"+905321234567"', id="bare-string"),
    pytest.param(b'{"phone": 905321234567}', id="phone-as-number"),
    pytest.param(b'{"phone": ["+905321234567"]}', id="phone-as-list"),
    pytest.param(b'{"phone": null}', id="phone-null"),
    pytest.param(b'{"phone": "+905321234567", "purpose": 5}', id="purpose-as-number"),
    pytest.param(b'{"phone": "+905321234567", "locale": "de"}', id="unknown-locale"),
    pytest.param(b'{"phone": "+905321234567", "admin": true}', id="unknown-field"),
    pytest.param(b'{"phone": "+90532\xff\xfe1234567"}', id="invalid-utf8"),
    pytest.param(b'{"phone": "+90532\x001234567"}', id="raw-nul-byte"),
    pytest.param(b'{"phone": "' + b"9" * 33 + b'"}', id="phone-too-long"),
    pytest.param(b'{"phone": ""}', id="phone-empty"),
    pytest.param(b'{"phone": "+905321234567", "purpose": "login\\u001fweb"}', id="purpose-sep"),
    pytest.param(b'{"phone": "+905321234567", "purpose": "{p:x}"}', id="purpose-hash-tag"),
    pytest.param(b'{"phone": "+905321234567", "purpose": "' + b"a" * 33 + b'"}', id="purpose-long"),
    pytest.param(b'{"phone": "+905321234567", "purpose": "LOGIN"}', id="purpose-upper"),
    pytest.param(b"{" * 5000 + b"}" * 5000, id="deep-nesting"),
]


@pytest.mark.parametrize("body", MALFORMED_BODIES)
def test_malformed_create_bodies_are_400_and_change_nothing(target: Target, body: bytes) -> None:
    with target.unchanged():
        r = target.raw("POST", CREATE, content=body, headers=JSON)
    assert is_problem(r, 400, "invalid_request"), r.text


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (CHECK_PHONE, b'{"phone": "+905321234567"}'),
        (CHECK_PHONE, b'{"phone": "+905321234567", "code": 123456}'),
        (CHECK_PHONE, b'{"phone": "+905321234567", "code": "123456", "extra": 1}'),
        (CHECK_PHONE, b'{"phone": "+905321234567", "code": "' + b"1" * 17 + b'"}'),
        (f"/v1/verifications/{'a' * 64}/check", b'{"code": ["123456"]}'),
        (f"/v1/verifications/{'a' * 64}/check", b'{"code": "123456", "client_ip": 7}'),
        (f"/v1/verifications/{'a' * 64}/check", b"[]"),
    ],
)
def test_malformed_check_bodies_are_400_and_change_nothing(
    target: Target, path: str, body: bytes
) -> None:
    with target.unchanged():
        r = target.raw("POST", path, content=body, headers=JSON)
    assert is_problem(r, 400, "invalid_request"), r.text


@pytest.mark.parametrize("path", [CREATE, CHECK_PHONE, f"/v1/verifications/{'a' * 64}/check"])
def test_huge_bodies_are_413_body_too_large(target: Target, path: str) -> None:
    huge = json.dumps({"phone": PHONE, "code": "123456", "pad": "x" * 100_000}).encode()
    with target.unchanged():
        r = target.raw("POST", path, content=huge, headers=JSON)
    assert is_problem(r, 413, "body_too_large"), r.text


def test_huge_chunked_body_is_413(target: Target) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"phone": "+905321234567", "pad": "'
        for _ in range(64):
            yield b"x" * 1024
        yield b'"}'

    with target.unchanged():
        r = target.raw("POST", CREATE, content=chunks(), headers=JSON)
    assert is_problem(r, 413, "body_too_large"), r.text


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonx",
        "application/problem+json",
        "text/json",
    ],
)
def test_wrong_content_types_are_415(target: Target, content_type: str | None) -> None:
    headers = {} if content_type is None else {"Content-Type": content_type}
    body = json.dumps({"phone": PHONE}).encode()
    with target.unchanged():
        r = target.raw("POST", CREATE, content=body, headers=headers)
    assert is_problem(r, 415, "unsupported_media_type"), r.text


def test_json_with_charset_parameter_is_accepted(target: Target) -> None:
    r = target.raw(
        "POST",
        CREATE,
        content=json.dumps({"phone": "+905321230001"}).encode(),
        headers={"Content-Type": "Application/JSON; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param("+90532\u00001234567", id="escaped-nul"),
        pytest.param("+90532\u200b1234567", id="zero-width-space"),
        pytest.param("\u202e+905321234567", id="bidi-override"),
        pytest.param("+90532\n1234567", id="newline"),
        pytest.param("+9053212345678901", id="too-many-digits"),
        pytest.param("ⅰⅱⅲ", id="roman-numerals"),
        pytest.param("+90532¹²³4567", id="superscripts"),
    ],
)
def test_phones_with_control_or_odd_characters_are_refused(target: Target, phone: str) -> None:
    with target.unchanged():
        r = target.api.create(phone)
    assert r.status_code in (400, 422), r.text
    assert r.json()["code"] in ("invalid_phone", "invalid_request"), r.text


def test_non_ascii_digit_phones_are_one_number(target: Target) -> None:
    """Decision: phones in Arabic-Indic or full-width digits are what people type on those
    keyboards; libphonenumber normalises them, so they are the same number (same id, same
    limits), never a second one that escapes the per-phone budgets."""
    ascii_form = target.api.create("+905321230002")
    arabic = target.api.create("+905321230002".translate(ARABIC_INDIC))
    full = target.api.create("+905321230002".translate(FULL_WIDTH))
    assert ascii_form.status_code == arabic.status_code == full.status_code == 201, full.text
    assert ascii_form.json()["id"] == arabic.json()["id"] == full.json()["id"]
    punctuated = target.api.create("+90 (532) 123-00.02")
    assert punctuated.json()["id"] == ascii_form.json()["id"]
    assert punctuated.json()["sends"] == 4
    assert len(target.sim.messages("905321230002")) == 4


@pytest.mark.parametrize(
    "phone",
    [
        pytest.param("+90 545 123 45 11 \u260e", id="telephone-sign"),
        pytest.param("+905451234511abc", id="letters-after"),
        pytest.param("+90 545 123 45 11 ext. 99", id="extension"),
        pytest.param("0545 CALL NOW", id="vanity-letters"),
        pytest.param("+905451234511\u0301", id="combining-mark"),
        pytest.param("+90/545/1234511", id="slashes"),
        pytest.param("tel:+905451234511", id="uri"),
    ],
)
def test_phones_with_characters_nobody_types_are_invalid_phone(target: Target, phone: str) -> None:
    """libphonenumber would extract the digits; only digits, spaces and + - . ( ) pass."""
    with target.unchanged():
        r = target.api.create(phone)
        by_phone = target.api.http.post(CHECK_PHONE, json={"phone": phone, "code": "123456"})
    assert r.status_code == by_phone.status_code == 422, r.text
    assert r.json()["code"] == by_phone.json()["code"] == "invalid_phone"


def _fresh(target: Target, phone: str) -> tuple[str, str]:
    created = target.api.create(phone)
    assert created.status_code == 201, created.text
    return created.json()["id"], target.sim.last_code(phone.lstrip("+"))


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda c: c.translate(ARABIC_INDIC), id="arabic-indic"),
        pytest.param(lambda c: c.translate(FULL_WIDTH), id="full-width"),
        pytest.param(
            lambda c: c.translate(str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")), id="persian"
        ),
        pytest.param(lambda c: " " + c, id="leading-space"),
        pytest.param(lambda c: c + "\u0000", id="trailing-nul"),
        pytest.param(lambda c: c[:-1], id="one-short"),
        pytest.param(lambda c: c + "0", id="one-long"),
        pytest.param(lambda c: c[:3] + "-" + c[3:], id="dash"),
        pytest.param(lambda c: "-" + c[1:], id="sign"),
        pytest.param(lambda c: c[:-1] + "\u0660", id="last-digit-arabic"),
    ],
)
def test_a_code_in_any_other_shape_never_matches_and_costs_no_attempt(
    target: Target, spoil: Any
) -> None:
    """Decision: only ASCII digits are a code. Look-alike digits are refused with 422
    invalid_code before any attempt is taken, so they neither match nor burn attempts."""
    phone = "+905321230003"
    vid, code = _fresh(target, phone)
    before = target.api.get(vid).json()["attempts_remaining"]
    with target.unchanged():
        by_id = target.api.check(vid, spoil(code))
        by_phone = target.api.check_phone(phone, spoil(code))
    assert is_problem(by_id, 422, "invalid_code"), by_id.text
    assert is_problem(by_phone, 422, "invalid_code"), by_phone.text
    assert target.api.get(vid).json()["attempts_remaining"] == before
    assert target.api.check(vid, code).json()["status"] == "approved"


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("k" * 256, id="too-long"),
        pytest.param("k" * 5000, id="far-too-long"),
        pytest.param("", id="empty"),
    ],
)
def test_bad_idempotency_keys_are_refused_and_send_nothing(target: Target, key: str) -> None:
    with target.unchanged():
        r = target.raw(
            "POST", CREATE, json={"phone": "+905321230004"}, headers={"Idempotency-Key": key}
        )
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_request"


def test_idempotency_key_of_255_characters_works(target: Target) -> None:
    key = "k" * 255
    first = target.raw(
        "POST", CREATE, json={"phone": "+905321230005"}, headers={"Idempotency-Key": key}
    )
    again = target.raw(
        "POST", CREATE, json={"phone": "+905321230005"}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    assert len(target.sim.messages("905321230005")) == 1


@pytest.mark.parametrize(
    "vid",
    [
        pytest.param("xyz", id="short"),
        pytest.param("A" * 64, id="upper-hex"),
        pytest.param("g" * 64, id="not-hex"),
        pytest.param("a" * 63, id="63-hex"),
        pytest.param("a" * 65, id="65-hex"),
        pytest.param("%00" + "a" * 61, id="nul"),
        pytest.param("a" * 64 + "%0a", id="newline"),
        pytest.param("٠" * 64, id="arabic-digits"),
        pytest.param("..%2F..%2Fprovider%2Fbalance", id="traversal"),
        pytest.param("*", id="glob"),
    ],
)
def test_ids_of_the_wrong_shape_are_404_and_change_nothing(target: Target, vid: str) -> None:
    with target.unchanged():
        answers = [
            target.raw("GET", f"/v1/verifications/{vid}"),
            target.raw("DELETE", f"/v1/verifications/{vid}"),
            target.raw("GET", f"/v1/verifications/{vid}/delivery"),
            target.raw("POST", f"/v1/verifications/{vid}/check", json={"code": "123456"}),
        ]
    for r in answers:
        # A 404 problem: the verification's, or the router's when the path no longer matches
        # (an encoded "/" never reaches another route such as the admin balance).
        assert r.status_code == 404, (r.request.url, r.text)
        assert r.json()["code"] in ("verification_not_found", "not_found"), r.text


def test_overlong_ids_are_a_4xx_problem(target: Target) -> None:
    with target.unchanged():
        r = target.raw("GET", f"/v1/verifications/{'a' * 129}")
        huge = target.raw("GET", f"/v1/verifications/{'a' * 6000}")
    assert r.status_code in (400, 404) and "code" in r.json(), r.text
    assert 400 <= huge.status_code < 500, huge.text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", CREATE),
        ("PATCH", f"/v1/verifications/{'a' * 64}"),
        ("GET", CHECK_PHONE),
        ("POST", f"/v1/verifications/{'a' * 64}"),
        ("DELETE", CREATE),
    ],
)
def test_wrong_methods_are_405_problems(target: Target, method: str, path: str) -> None:
    with target.unchanged():
        r = target.raw(method, path, content=b"{}", headers=JSON)
    assert is_problem(r, 405, "method_not_allowed"), r.text


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELD = st.sampled_from(["phone", "purpose", "locale", "client_ip", "code"]) | st.text(max_size=10)
PLAUSIBLE = {
    "phone": st.sampled_from([PHONE, "05321234567", "+1 415 555 0123", "+90 212 123 45 67"])
    | st.text(max_size=40),
    "purpose": st.sampled_from(["login", "signup", "a.b-c_d"]) | st.text(max_size=40),
    "locale": st.sampled_from(["en", "tr", "ar", "de"]),
    "client_ip": st.sampled_from(["203.0.113.7", "::1", "::ffff:10.0.0.1", "999.1.1.1"])
    | st.text(max_size=50),
    "code": st.text(alphabet="0123456789٠١٢٣٤٥٦٧٨٩０１２ x", max_size=12),
}
BODIES = st.one_of(
    st.dictionaries(FIELD, JSON_VALUES, max_size=6),
    st.fixed_dictionaries({}, optional=PLAUSIBLE),
    JSON_VALUES,
)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from([CREATE, CHECK_PHONE, f"/v1/verifications/{'a' * 64}/check"]),
    body=BODIES,
    # Printable ASCII: other header bytes are refused by the HTTP server before the app runs.
    idempotency=st.none()
    | st.text(st.characters(min_codepoint=33, max_codepoint=126), max_size=300),
)
def test_random_json_bodies_never_get_a_5xx(
    target: Target, path: str, body: Any, idempotency: str | None
) -> None:
    """Whatever JSON a client sends: a 2xx, or a 4xx problem with a stable code."""
    headers = {**JSON}
    if idempotency is not None:
        headers["Idempotency-Key"] = idempotency
    r = target.raw("POST", path, content=json.dumps(body).encode(), headers=headers)
    assert r.status_code < 500, (body, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        problem = r.json()
        assert isinstance(problem.get("code"), str) and problem["code"], r.text
        assert problem["status"] == r.status_code


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(raw=st.binary(max_size=200))
def test_random_bytes_never_get_a_5xx(target: Target, raw: bytes) -> None:
    r = target.raw("POST", CREATE, content=raw, headers=JSON)
    assert r.status_code < 500, (raw, r.text)
    if r.status_code >= 400:
        assert r.json()["code"], r.text


def test_duplicate_json_keys_use_one_number_only(target: Target) -> None:
    """Accepted, as most JSON parsers do (the last value wins); what matters is that exactly
    one number is used, gets one SMS, and nothing reaches the other."""
    body = b'{"phone": "+905321230006", "phone": "+905321230007"}'
    r = target.raw("POST", CREATE, content=body, headers=JSON)
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "+90532123****"
    assert target.sim.messages("905321230006") == []
    assert len(target.sim.messages("905321230007")) == 1


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{not json", JSON),
        (b'{"phone": "+905321234567"}', {"Content-Type": "text/plain"}),
        (b"x" * 100_000, JSON),
        (b'{"phone": "+90532\xff"}', JSON),
    ],
)
def test_without_a_key_the_answer_is_401_whatever_the_body(
    target: Target, body: bytes, headers: dict[str, str]
) -> None:
    """The key is checked first: a caller without one learns nothing about what it sent
    (no 400, 413 or 415) and costs no parsing."""
    with target.unchanged(), httpx.Client(event_hooks={"response": [record_response]}) as http:
        r = http.post(f"{target.api.base_url}{CREATE}", content=body, headers=headers)
    assert is_problem(r, 401, "unauthorized"), r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
