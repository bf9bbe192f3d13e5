"""Attack: guessing admin keys at the console's sign-in form of `otpservice serve`.

Failed sign-ins are throttled like checks: after OTP_CHECK_FREE_FAILURES attempts from one
network, each further attempt waits (doubling), counted before the key is compared, so
guesses sent in parallel are all counted, and during the wait even the right key is refused.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from tests.e2e.conftest import ADMIN_KEY, Sim, service_env
from tests.support.processes import serve

FREE = 3


def _form(base: str) -> tuple[str, str]:
    """The sign-in form's pre-session cookie and token, as a browser would hold them."""
    r = httpx.get(f"{base}/console/sign-in")
    assert r.status_code == 200
    seed = r.cookies["otp_console_pre"]
    match = re.search(r'name="csrf" value="([0-9a-f]+)"', r.text)
    assert match
    return seed, match.group(1)


def _sign_in(base: str, seed: str, csrf: str, key: str) -> httpx.Response:
    # The cookies are Secure; over this test's plain http they go in by hand.
    return httpx.post(
        f"{base}/console/sign-in",
        data={"csrf": csrf, "key": key},
        headers={"Cookie": f"otp_console_pre={seed}"},
        follow_redirects=False,
    )


def test_parallel_key_guesses_are_all_counted_and_then_the_network_waits(
    redis_url: str, sim: Sim, tmp_path: Path
) -> None:
    env = service_env(
        redis_url,
        sim,
        OTP_CONSOLE="true",
        OTP_CHECK_FREE_FAILURES=str(FREE),
        OTP_CHECK_DELAY_BASE_SECONDS="600",
    )
    with serve(env, tmp_path / "serve.log") as served:
        seed, csrf = _form(served.url)
        guesses = [f"guess-{i:04d}-0123456789abcdef" for i in range(12)]
        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(lambda k: _sign_in(served.url, seed, csrf, k), guesses))
        statuses = sorted(a.status_code for a in answers)
        # Exactly the free attempts were compared; every other guess waited, uncompared.
        assert statuses == [401] * FREE + [429] * (len(guesses) - FREE)
        waiting = next(a for a in answers if a.status_code == 429)
        assert 1 <= int(waiting.headers["Retry-After"]) <= 600
        # During the wait the right key is refused too: nothing to learn from the answers.
        right = _sign_in(served.url, seed, csrf, ADMIN_KEY)
        assert right.status_code == 429
        assert "otp_console=" not in right.headers.get("set-cookie", "")
        log = (tmp_path / "serve.log").read_text()
        assert ADMIN_KEY not in log and "guess-0001" not in log
