"""Unit checks a security reviewer asks for: constant-time key comparison over every key,
and client_ip normalisation that cannot mint fresh per-IP budgets."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from otpservice.api import auth
from otpservice.config import ClientKey
from otpservice.domain.requester import network_of
from otpservice.errors import InvalidRequest

KEYS = [f"client-key-{i:02d}-0123456789" for i in range(5)]
CLIENTS = tuple(
    ClientKey(name=f"c{i}", digest=hashlib.sha256(k.encode()).digest()) for i, k in enumerate(KEYS)
)


@pytest.mark.parametrize("presented", [KEYS[0], KEYS[4], "nope-0123456789", ""])
def test_every_key_is_compared_in_constant_time(
    monkeypatch: pytest.MonkeyPatch, presented: str
) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    found = auth.find_client(CLIENTS, presented)
    # The same work whether the key is first, last or unknown: no early exit to time.
    assert len(calls) == len(CLIENTS)
    assert all(len(a) == len(b) == 32 for a, b in calls)
    assert (found.name if found else None) == (
        f"c{KEYS.index(presented)}" if presented in KEYS else None
    )


def test_keys_that_differ_by_prefix_suffix_or_case_do_not_match() -> None:
    key = KEYS[1]
    for variant in (key[:-1], key + "x", key.upper(), " " + key, key + "\x00"):
        assert auth.find_client(CLIENTS, variant) is None


def test_ipv6_zones_and_mapped_ipv4_normalise_to_one_address() -> None:
    assert network_of("fe80::1%eth0") == network_of("fe80::1%eth1") == network_of("fe80::1")
    assert network_of("::ffff:203.0.113.7") == network_of("203.0.113.7")
    assert network_of(" 203.0.113.7 ") == ("203.0.113.7", "203.0.113.0/24")
    assert network_of("2001:db8::1")[1] == "2001:db8::/64"


@pytest.mark.parametrize("bad", ["", "localhost", "1.2.3", "01.2.3.4", "1.2.3.4/24", "1.2.3.4:80"])
def test_client_ip_that_is_not_one_address_is_refused(bad: str) -> None:
    with pytest.raises(InvalidRequest):
        network_of(bad)
