"""What a security reviewer of a 2FA service tries, end to end."""

from __future__ import annotations

import time

import httpx
import pytest
import redis

from otpservice.domain.models import phone_tag
from otpservice.storage import keys
from otpservice.storage.days import utc_day
from tests.e2e.conftest import (
    OTHER_KEY,
    SECRET,
    WEB_KEY,
    Api,
    ServiceFactory,
    Sim,
    record_response,
)
from tests.support.leaks import COLLECTOR

PHONE = "+905321234567"
MOBILE = "905321234567"


def raw_client() -> httpx.Client:
    return httpx.Client(timeout=10, event_hooks={"response": [record_response]})


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param([], id="missing"),
        pytest.param([("Authorization", "Bearer")], id="bearer-no-token"),
        pytest.param([("Authorization", WEB_KEY)], id="no-scheme"),
        pytest.param([("Authorization", f"Basic {WEB_KEY}")], id="basic"),
        pytest.param([("Authorization", f"Token {WEB_KEY}")], id="other-scheme"),
        pytest.param([("Authorization", f"Bearer {WEB_KEY[:-1]}")], id="prefix"),
        pytest.param([("Authorization", f"Bearer {WEB_KEY}x")], id="suffix"),
        pytest.param([("Authorization", f"Bearer {WEB_KEY.upper()}")], id="case"),
        pytest.param([("Authorization", f"Bearer {WEB_KEY},{OTHER_KEY}")], id="two-keys"),
        pytest.param([("Authorization", "Bearer " + "k" * 10_000)], id="huge"),
        pytest.param(
            [("Authorization", f"Bearer {WEB_KEY}"), ("Authorization", "Bearer nope-nope-nope")],
            id="duplicate-header",
        ),
        pytest.param([("X-Api-Key", WEB_KEY)], id="other-header"),
    ],
)
def test_authorization_oddities_are_401_and_send_nothing(
    api: Api, sim: Sim, authorization: list[tuple[str, str]]
) -> None:
    with raw_client() as http:
        r = http.post(
            f"{api.base_url}/v1/verifications",
            json={"phone": PHONE},
            headers=[("Content-Type", "application/json"), *authorization],
        )
    assert r.status_code == 401, r.text
    assert r.json()["code"] == "unauthorized"
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert WEB_KEY not in r.text and WEB_KEY.upper() not in r.text
    assert sim.all_messages() == []


def test_lowercase_bearer_scheme_is_accepted(api: Api) -> None:
    """RFC 9110: the scheme is case-insensitive."""
    with raw_client() as http:
        r = http.get(
            f"{api.base_url}/v1/verifications/{'a' * 64}",
            headers={"Authorization": f"bearer {WEB_KEY}"},
        )
    assert r.status_code == 404 and r.json()["code"] == "verification_not_found"


def test_check_by_phone_cannot_guess_across_clients(api: Api, sim: Sim, redis_url: str) -> None:
    """Another client guessing codes by phone finds nothing, costs the person no attempt and
    puts them in no delay."""
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    other = api.as_client(OTHER_KEY)
    db = redis.Redis.from_url(redis_url)
    mine = keys.phone_keys(phone_tag(SECRET.encode(), PHONE)) + ":*"
    before = {k: db.dump(k) for k in db.scan_iter(mine)}
    for guess in [code, *(f"{n:06d}" for n in range(30))]:
        r = other.check_phone(PHONE, guess)
        assert r.status_code == 404, r.text
        assert r.json()["code"] == "verification_not_found"
    # None of the person's keys changed or appeared; the guesses are only counted, as the
    # other client's refused checks (the operator's statistics).
    assert {k: db.dump(k) for k in db.scan_iter(mine)} == before
    counts = db.hgetall(
        keys.refusals_day(
            keys.partition_of(phone_tag(SECRET.encode(), PHONE)), utc_day(int(time.time() * 1000))
        )
    )
    assert sum(int(n) for f, n in counts.items() if b"|other|not_found|" in f) == 31
    db.close()
    assert api.get(vid).json()["attempts_remaining"] == 5
    assert api.check_phone(PHONE, code).json()["status"] == "approved"


def test_another_clients_id_is_an_unknown_id(api: Api, sim: Sim) -> None:
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    other = api.as_client(OTHER_KEY)
    unknown = "0" * 64
    for call in (other.get, other.cancel):
        assert call(vid).json() == call(unknown).json()
    assert other.check(vid, code).json() == other.check(unknown, code).json()
    assert other.http.get(f"/v1/verifications/{vid}/delivery").status_code == 404
    assert api.check(vid, code).json()["status"] == "approved"


def test_purpose_cannot_reach_another_purposes_verification(api: Api, sim: Sim) -> None:
    """A code sent for 'signup' does not approve 'login', and a purpose cannot smuggle
    separators or key syntax (refused as invalid before anything is touched)."""
    api.create(PHONE, purpose="signup")
    code = sim.last_code(MOBILE)
    assert api.check_phone(PHONE, code, purpose="login").status_code == 404
    for purpose in ("signup\x1f", "signup:v", "{p:signup}", "signup ", "SIGNUP", "sign/up"):
        r = api.check_phone(PHONE, code, purpose=purpose)
        assert r.status_code in (400, 422), (purpose, r.text)
    assert api.check_phone(PHONE, code, purpose="signup").json()["status"] == "approved"


def test_leak_check_is_fed_by_responses_logs_and_the_inbox(api: Api, sim: Sim) -> None:
    """The session-wide leak check (tests/support/leaks.py) is not vacuous: it sees this
    test's answers, the service's own log lines and the code that reached the phone."""
    mark = COLLECTOR.mark()
    responses_before = len(COLLECTOR.responses)
    vid = api.create(PHONE).json()["id"]
    code = sim.last_code(MOBILE)
    assert api.check(vid, code).json()["status"] == "approved"
    assert code in COLLECTOR.codes
    assert len(COLLECTOR.responses) >= responses_before + 2
    events = {e.get("event") for e in COLLECTOR.events_since(mark)}
    assert {"verification.sent", "verification.approved"} <= events
    assert not [line for line in COLLECTOR.lines_since(mark) if code in line]


def test_codes_are_never_in_any_answer_for_a_whole_lifecycle(
    make_service: ServiceFactory, sim: Sim
) -> None:
    with make_service(OTP_RESEND_COOLDOWN_SECONDS="0") as api:
        answers = [api.create(PHONE, idempotency_key="k-1")]
        vid = answers[0].json()["id"]
        answers.append(api.create(PHONE, idempotency_key="k-1"))
        answers.append(api.create(PHONE))
        codes = [m["text"] for m in sim.messages(MOBILE)]
        answers += [api.get(vid), api.http.get(f"/v1/verifications/{vid}/delivery")]
        answers.append(api.check(vid, "000000"))
        answers.append(api.check(vid, sim.last_code(MOBILE)))
        answers.append(api.cancel(vid))
    digits = [t.split()[-1].strip(".") for t in codes]
    for r in answers:
        blob = r.text + "".join(f"{k}:{v}" for k, v in r.headers.items())
        for code in digits:
            assert f'"{code}"' not in blob and f" {code}" not in blob, r.text
