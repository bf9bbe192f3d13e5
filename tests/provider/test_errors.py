"""The typed error family: one class per documented code, in the service's tree."""

from __future__ import annotations

import pytest

from otpservice.errors import Fault, PhoneRejected, ProviderError, ProviderUnavailable
from otpservice.providers.turkeysms import errors as ts

DOCUMENTED = [f"TS-{n}" for n in (*range(1022, 1035), 1050, 1051, 1052, *range(1060, 1066))]
CALLER = {"TS-1025", "TS-1032", "TS-1034"}
PROVIDER = {"TS-1022", "TS-1023", "TS-1024", "TS-1064"}


def test_every_documented_code_has_a_class() -> None:
    assert ts.known_codes() == set(DOCUMENTED)


@pytest.mark.parametrize("code", DOCUMENTED)
def test_class_attributes(code: str) -> None:
    cls = ts.error_for_code(code)
    assert cls.result_code == code
    assert issubclass(cls, ts.TurkeySmsRefusal)
    assert issubclass(cls, ProviderError)
    if code in CALLER:
        assert issubclass(cls, PhoneRejected)
        assert cls.fault is Fault.CALLER
        assert cls.code == "phone_rejected"
    else:
        assert issubclass(cls, ProviderUnavailable)
        assert cls.code == "provider_unavailable"
    if code == "TS-1060":
        assert cls.fault is Fault.PROVIDER_LIMIT
    elif code in PROVIDER:
        assert cls.fault is Fault.PROVIDER
    elif code not in CALLER:
        assert cls.fault is Fault.ACCOUNT
    assert cls.retryable is (code == "TS-1060")
    assert cls.__name__ in (ts.__doc__ or "")


@pytest.mark.parametrize("code", DOCUMENTED)
def test_instances(code: str) -> None:
    error = ts.error_for_code(code)()
    assert error.result_code == code
    assert code in str(error)
    assert error.may_have_sent is (code in ("TS-1022", "TS-1023", "TS-1024"))
    assert error.retry_after == (60 if code == "TS-1060" else None)


def test_registry_lookup_tolerates_case_and_rejects_unknown() -> None:
    assert ts.error_for_code(" ts-1034 ") is ts.MobileInvalid
    with pytest.raises(KeyError):
        ts.error_for_code("TS-1999")


def test_protocol_error_carries_what_was_received() -> None:
    error = ts.ProviderProtocolError("HTML instead of a reply", status=502, snippet="x" * 500)
    assert error.may_have_sent is True
    assert error.status == 502
    assert error.snippet is not None
    assert len(error.snippet) == ts.SNIPPET_LIMIT
    assert error.fault is Fault.PROVIDER
    assert error.retryable
    assert isinstance(error, ProviderUnavailable)


def test_unreachable_is_never_sent() -> None:
    error = ts.ProviderUnreachable("ConnectError", attempts=3)
    assert error.may_have_sent is False
    assert error.attempts == 3
    assert isinstance(error, ProviderUnavailable)
