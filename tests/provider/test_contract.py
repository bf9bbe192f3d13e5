"""The real client against the simulator, in-process and over a socket."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from otpservice.domain.ports import DeliveryState, Lang
from otpservice.errors import Fault, PhoneRejected, ProviderError, ProviderUnavailable
from otpservice.providers.turkeysms import (
    TurkeySmsClient,
    TurkeySmsRefusal,
    error_for_code,
)

from .conftest import API_KEY, FOREIGN, MOBILE, Sim


@pytest.mark.parametrize("digits", [4, 5, 6])
async def test_send_otp_returns_the_delivered_code(
    sim: Sim, client: TurkeySmsClient, digits: int
) -> None:
    sent = await client.send_otp(MOBILE, digits=digits, lang=Lang.EN)
    assert sent.otp_code is not None
    assert len(sent.otp_code) == digits
    assert sent.otp_code.isdigit()
    assert sent.parts == 1
    assert sent.sms_id.isdigit()
    [message] = sim.state.messages_for(MOBILE)
    assert message.text == f"Your verification code is {sent.otp_code}"
    assert str(message.sms_id) == sent.sms_id


@pytest.mark.parametrize(
    ("lang", "fragment"), [(Lang.EN, "verification code"), (Lang.TR, "Doğrulama"), (Lang.AR, "رمز")]
)
async def test_send_otp_language(
    sim: Sim, client: TurkeySmsClient, lang: Lang, fragment: str
) -> None:
    await client.send_otp(MOBILE, digits=6, lang=lang)
    assert fragment in sim.state.messages_for(MOBILE)[0].text


async def test_otp_code_keeps_leading_zero(sim: Sim, client: TurkeySmsClient) -> None:
    sim.state.next_otp_codes.append("012345")
    sent = await client.send_otp(MOBILE, digits=6, lang=Lang.EN)
    assert sent.otp_code == "012345"


async def test_send_sms_post(sim: Sim, client: TurkeySmsClient) -> None:
    sent = await client.send_sms(MOBILE, "Your code is 4821", lang=Lang.EN)
    assert sent.parts == 1
    assert sent.otp_code is None
    [message] = sim.state.messages_for(MOBILE)
    assert (message.text, message.sender, message.kind) == ("Your code is 4821", "OTPSVC", "sms")
    assert sim.account.local_balance_sms == 10_000 - 1


async def test_send_sms_get_form(sim: Sim) -> None:
    async with sim.client(use_get_for_sms=True) as client:
        sent = await client.send_sms(MOBILE, "Kodunuz: 4821 ş", lang=Lang.TR)
    assert sent.sms_id.isdigit()
    assert sent.parts == 1
    assert sim.state.messages_for(MOBILE)[0].text == "Kodunuz: 4821 ş"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("{" * 80, 1),  # extension characters take two septets
        ("{" * 81, 2),
        ("ş" * 70, 1),  # one Turkish letter forces UCS-2
        ("ş" * 71, 2),
        ("ş" * 134, 2),
        ("ş" * 135, 3),
        ("a" * 69 + "ğ", 1),
        ("a" * 70 + "ğ", 2),
    ],
)
async def test_parts_are_counted_and_charged(
    sim: Sim, client: TurkeySmsClient, text: str, parts: int
) -> None:
    sent = await client.send_sms(MOBILE, text, lang=Lang.TR)
    assert sent.parts == parts
    assert sim.account.local_balance_sms == 10_000 - parts


async def test_international_is_charged_in_lira_per_part(sim: Sim, client: TurkeySmsClient) -> None:
    sim.account.international_balance_tl = 1.2
    sent = await client.send_sms(FOREIGN, "b" * 200, lang=Lang.EN)  # 2 parts x 0.5 TL
    assert sent.parts == 2
    assert sim.account.international_balance_tl == pytest.approx(0.2)
    assert sim.account.local_balance_sms == 10_000
    with pytest.raises(error_for_code("TS-1027")):
        await client.send_sms(FOREIGN, "short", lang=Lang.EN)  # 0.5 TL > 0.2 TL
    assert (await client.balance()).international_tl == pytest.approx(0.2)


@pytest.mark.parametrize(
    ("outcome", "state"),
    [
        ("delivered", DeliveryState.DELIVERED),
        ("not_delivered", DeliveryState.NOT_DELIVERED),
        ("out_of_coverage", DeliveryState.OUT_OF_COVERAGE),
        ("pending", DeliveryState.PENDING),
    ],
)
async def test_delivery_outcomes(
    sim: Sim, client: TurkeySmsClient, outcome: str, state: DeliveryState
) -> None:
    sent = await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    async with sim.admin() as admin:
        r = await admin.post("/_admin/delivery", json={"mobile": MOBILE, "outcome": outcome})
        assert r.status_code == 200
    delivery = await client.delivery(sent.sms_id)
    assert delivery.state is state
    assert delivery.operator == "Turkcell"
    assert delivery.sent_at is not None
    assert delivery.sent_at[:4].isdigit()
    assert "T" in delivery.sent_at


async def test_balance(sim: Sim, client: TurkeySmsClient) -> None:
    sim.account.local_balance_sms = 42
    sim.account.international_balance_tl = 12.5
    balance = await client.balance()
    assert (balance.local_sms, balance.international_tl) == (42, 12.5)


# -- every documented refusal, with a natural trigger -------------------------------------

Op = Callable[[TurkeySmsClient], Awaitable[Any]]


def otp(mobile: str = MOBILE) -> Op:
    return lambda c: c.send_otp(mobile, digits=6, lang=Lang.EN)


def sms(mobile: str = MOBILE, text: str = "hello") -> Op:
    return lambda c: c.send_sms(mobile, text, lang=Lang.EN)


def status(sms_id: str) -> Op:
    return lambda c: c.delivery(sms_id)


def balance() -> Op:
    return lambda c: c.balance()


REFUSALS: list[tuple[str, str, dict[str, Any], dict[str, Any], Op]] = [
    # (code, label, account changes, client options, operation)
    ("TS-1025", "empty mobile sms", {}, {}, sms("")),
    ("TS-1025", "empty mobile otp", {}, {}, otp("")),
    ("TS-1026", "empty text", {}, {}, sms(text="")),
    ("TS-1027", "no balance", {"local_balance_sms": 0}, {}, sms()),
    ("TS-1027", "no balance otp", {"local_balance_sms": 0}, {}, otp()),
    ("TS-1027", "two parts, one left", {"local_balance_sms": 1}, {}, sms(text="x" * 200)),
    ("TS-1028", "inactive sender", {"sender_ids": {"OTPSVC": "inactive"}}, {}, sms()),
    ("TS-1029", "unknown sender", {}, {"sender_id": "NOPE"}, sms()),
    ("TS-1030", "inactive account", {"active": False}, {}, sms()),
    ("TS-1030", "inactive account balance", {"active": False}, {}, balance()),
    ("TS-1031", "unknown key", {}, {"api_key": "tsk_unknown_key_zzzz"}, sms()),
    ("TS-1031", "unknown key otp", {}, {"api_key": "tsk_unknown_key_zzzz"}, otp()),
    ("TS-1032", "international", {"international_enabled": False}, {}, sms(FOREIGN)),
    ("TS-1033", "non-numeric sms_id", {}, {}, status("abc")),
    ("TS-1033", "unknown sms_id", {}, {}, status("999")),
    ("TS-1034", "short Turkish number", {}, {}, sms("90532123")),
    ("TS-1034", "letters", {}, {}, otp("90532abc4567")),
    ("TS-1034", "leading zero", {}, {}, sms("05321234567")),
    ("TS-1050", "empty key", {}, {"api_key": ""}, sms()),
    ("TS-1050", "empty key balance", {}, {"api_key": ""}, balance()),
    ("TS-1051", "empty title", {}, {"sender_id": ""}, sms()),
    ("TS-1052", "empty sms_id", {}, {}, status("")),
    ("TS-1061", "POST disabled", {"post_enabled": False}, {}, sms()),
    ("TS-1062", "GET disabled (OTP)", {"get_enabled": False}, {}, otp()),
    ("TS-1062", "OTP disabled", {"otp_enabled": False}, {}, otp()),
    (
        "TS-1062",
        "GET disabled (GET send)",
        {"get_enabled": False},
        {"use_get_for_sms": True},
        sms(),
    ),
    ("TS-1063", "status disabled", {"status_enabled": False}, {}, status("1000007721")),
    ("TS-1065", "balance disabled", {"balance_enabled": False}, {}, balance()),
]


@pytest.mark.parametrize(
    ("code", "changes", "options", "op"),
    [pytest.param(c, ch, o, op, id=f"{c}-{label}") for c, label, ch, o, op in REFUSALS],
)
async def test_refusals_raise_typed_errors(
    sim: Sim, code: str, changes: dict[str, Any], options: dict[str, Any], op: Op
) -> None:
    for name, value in changes.items():
        setattr(sim.account, name, value)
    requests_before = sim.state.provider_requests
    async with sim.client(**options) as client:
        with pytest.raises(TurkeySmsRefusal) as caught:
            await op(client)
    error = caught.value
    assert type(error) is error_for_code(code)
    assert error.result_code == code
    assert error.may_have_sent is False
    assert sim.state.provider_requests == requests_before + 1  # refusals are not retried
    assert sim.state.inbox == []
    if code in ("TS-1025", "TS-1032", "TS-1034"):
        assert isinstance(error, PhoneRejected)
        assert error.fault is Fault.CALLER
    else:
        assert isinstance(error, ProviderUnavailable)
        assert not isinstance(error, PhoneRejected)


async def test_per_minute_limit_is_not_retried(sim: Sim, client: TurkeySmsClient) -> None:
    sim.account.per_minute_limit = 2
    await client.send_sms(MOBILE, "one", lang=Lang.EN)
    await client.send_otp(MOBILE, digits=4, lang=Lang.EN)
    before = sim.state.provider_requests
    with pytest.raises(ProviderError) as caught:
        await client.send_sms(MOBILE, "three", lang=Lang.EN)
    error = caught.value
    assert error.result_code == "TS-1060"
    assert error.fault is Fault.PROVIDER_LIMIT
    assert error.retryable
    assert error.retry_after == 60
    assert error.may_have_sent is False
    assert sim.state.provider_requests == before + 1
    assert len(sim.state.inbox) == 2


async def test_delivery_of_another_accounts_message_is_refused(sim: Sim) -> None:
    async with sim.client(api_key="tsk_other_account_key_0000", sender_id="OTHER") as other:
        sent = await other.send_sms(MOBILE, "theirs", lang=Lang.EN)
    async with sim.client() as mine:
        with pytest.raises(error_for_code("TS-1033")):
            await mine.delivery(sent.sms_id)


async def test_accounts_are_separate(sim: Sim) -> None:
    async with sim.client(api_key="tsk_other_account_key_0000", sender_id="OTPSVC") as other:
        with pytest.raises(error_for_code("TS-1029")):
            await other.send_sms(MOBILE, "hi", lang=Lang.EN)
    assert sim.state.accounts[API_KEY].local_balance_sms == 10_000
