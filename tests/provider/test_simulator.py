"""The simulator on its own: raw wire answers, admin endpoints, and the dev inbox."""

from __future__ import annotations

from typing import Any

import pytest

from otpservice.domain.ports import Lang
from otpservice.providers.turkeysms import TurkeySmsClient
from otpservice.simulator import SimulatorState, create_simulator, print_r, sms_parts

from .conftest import API_KEY, MOBILE, Sim, asgi

OTP = "/api/v3/otp/otp_get.php"
SEND = "/api/v3/gonder/add-content"
GET_SEND = "/api/v3/get/get.php"
STATUS = "/api/v3/sms-durumu/sms_durumu.php"
BALANCE = "/api/v3/bakiye_sorgulama/add-content"


def send_body(**overrides: Any) -> dict[str, Any]:
    body = {
        "api_key": API_KEY,
        "title": "OTPSVC",
        "text": "hello",
        "sentto": MOBILE,
        "report": 1,
        "sms_lang": 0,
        "response_type": "json",
        "content_type": 0,
    }
    body.update(overrides)
    return body


@pytest.mark.parametrize(
    ("overrides", "code", "status"),
    [
        ({"api_key": "tsk_nope_nope_nope"}, "TS-1031", 401),
        ({"api_key": ""}, "TS-1050", 200),
        ({"sentto": ""}, "TS-1025", 200),
        ({"text": ""}, "TS-1026", 200),
        ({"title": ""}, "TS-1051", 200),
        ({"title": "NOPE"}, "TS-1029", 200),
        ({"sentto": "90532"}, "TS-1034", 200),
        ({"sms_lang": "x"}, "TS-1033", 400),
        ({"content_type": 7}, "TS-1033", 400),
    ],
)
async def test_send_http_status_follows_notes(
    sim: Sim, overrides: dict[str, Any], code: str, status: int
) -> None:
    async with sim.admin() as http:
        r = await http.post(SEND, json=send_body(**overrides))
    assert r.status_code == status
    assert r.json() == {
        "result": False,
        "result_code": code,
        "result_message": r.json()["result_message"],
    }


async def test_forbidden_codes_answer_403(sim: Sim) -> None:
    sim.account.local_balance_sms = 0
    async with sim.admin() as http:
        assert (await http.post(SEND, json=send_body())).status_code == 403
        sim.account.sender_ids["OTPSVC"] = "inactive"
        assert (await http.post(SEND, json=send_body())).json()["result_code"] == "TS-1028"
        sim.account.post_enabled = False
        r = await http.post(SEND, json=send_body())
        assert (r.status_code, r.json()["result_code"]) == (403, "TS-1061")


async def test_unparsable_json_body_is_ts_1033(sim: Sim) -> None:
    async with sim.admin() as http:
        r = await http.post(
            SEND + "?response_type=json",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert (r.status_code, r.json()["result_code"]) == (400, "TS-1033")


@pytest.mark.parametrize("digits", ["x", "7", "3"])
async def test_otp_bad_digits_is_ts_1033(sim: Sim, digits: str) -> None:
    params = {"api_key": API_KEY, "mobile": MOBILE, "digits": digits, "response_type": "json"}
    async with sim.admin() as http:
        r = await http.get(OTP, params=params)
    assert (r.status_code, r.json()["result_code"], r.json()["result"]) == (400, "TS-1033", "false")


async def test_otp_defaults_four_digits_and_arabic(sim: Sim) -> None:
    params = {"api_key": API_KEY, "mobile": MOBILE, "digits": "", "response_type": "json"}
    async with sim.admin() as http:
        data = (await http.get(OTP, params=params)).json()
    assert data["result"] == "true"
    assert isinstance(data["otp_code"], str)
    assert len(data["otp_code"]) == 4
    assert isinstance(data["sms_id"], int)
    assert data["sms_lang"] == "Arabic"
    assert data["country"] == "Turkey-TR"
    assert sim.state.inbox[0].text.startswith("رمز")


async def test_answers_print_r_without_json(sim: Sim) -> None:
    async with sim.admin() as http:
        r = await http.post(SEND, json=send_body(response_type=""))
    assert r.text.startswith("Array\n(\n")
    assert "    [result] => 1\n" in r.text
    assert "    [result_code] => TS-1024\n" in r.text


def test_print_r_format() -> None:
    assert print_r({"result": False, "n": 2}) == "Array\n(\n    [result] => \n    [n] => 2\n)\n"


async def test_types_vary_between_endpoints(sim: Sim) -> None:
    async with sim.admin() as http:
        post = (await http.post(SEND, json=send_body())).json()
        get = (
            await http.get(
                GET_SEND,
                params={
                    "api_key": API_KEY,
                    "title": "OTPSVC",
                    "text": "hi",
                    "mobile": MOBILE,
                    "response_type": "json",
                },
            )
        ).json()
        status = (
            await http.get(
                STATUS,
                params={"api_key": API_KEY, "sms_id": post["sms_id"], "response_type": "json"},
            )
        ).json()
        status_post = (
            await http.post(
                STATUS,
                json={"api_key": API_KEY, "sms_id": str(post["sms_id"]), "response_type": "json"},
            )
        ).json()
        balance = (
            await http.post(BALANCE, json={"api_key": API_KEY, "response_type": "json"})
        ).json()
    assert post["result"] is True
    assert isinstance(post["sms_id"], int)
    assert get["result"] == 1
    assert isinstance(get["sms_id"], str)
    assert post["total_has_sent_last_1_min"] == 1
    assert get["total_has_sent_last_1_min"] == 2
    assert status == status_post
    assert status["result"] == "true"
    assert status["sms_status_code"] == "TS-1024"
    assert status["result_code"] == "TS-1064"
    assert status["sms_balance"] == "1 SMS"
    assert balance["result_code"] == "TS-1040"
    assert API_KEY not in str(balance)
    assert balance["api_key"].endswith(API_KEY[-4:])


def test_sms_parts_encoding() -> None:
    assert sms_parts("hello") == (1, "GSM-7")
    assert sms_parts("€" * 80) == (1, "GSM-7")
    assert sms_parts("\u0131") == (1, "UCS-2")  # dotless i
    assert sms_parts("😀" * 35) == (1, "UCS-2")  # surrogate pairs: two units each
    assert sms_parts("😀" * 36) == (2, "UCS-2")


# -- admin -----------------------------------------------------------------------------


async def test_admin_faults_lifecycle(sim: Sim) -> None:
    async with sim.admin() as http:
        assert (await http.get("/_admin/faults")).json() == {
            "mode": "none",
            "latency_ms": 0,
            "times": None,
        }
        r = await http.post("/_admin/faults", json={"mode": "http_500", "times": 2})
        assert r.json() == {"mode": "http_500", "latency_ms": 0, "times": 2}
        assert (await http.post("/_admin/faults", json={"mode": "explode"})).status_code == 400
        assert (
            await http.post("/_admin/faults", json={"mode": "reset", "times": 0})
        ).status_code == 400
        # faults apply to provider paths only
        assert (await http.get("/inbox")).status_code == 200
        assert (await http.post(BALANCE, json={"api_key": API_KEY})).status_code == 500
        assert (await http.get("/_admin/faults")).json()["times"] == 1
        assert (await http.delete("/_admin/faults")).status_code == 204
        assert (await http.get("/_admin/faults")).json()["mode"] == "none"


async def test_admin_accounts(sim: Sim) -> None:
    async with sim.admin() as http:
        r = await http.post(
            "/_admin/accounts",
            json={"api_key": "tsk_new_account_1234", "sender_id": "NEWCO", "local_balance_sms": 5},
        )
        assert r.status_code == 201
        assert r.json()["sender_ids"] == {"NEWCO": "active"}
        assert "tsk_new_account_1234" not in r.text
        r = await http.patch("/_admin/accounts/tsk_new_account_1234", json={"active": False})
        assert r.json()["active"] is False
        assert (
            await http.patch("/_admin/accounts/nope", json={"active": False})
        ).status_code == 404
        r = await http.patch("/_admin/accounts/tsk_new_account_1234", json={"bogus": 1})
        assert r.status_code == 400
        assert (await http.post("/_admin/accounts", json={"bogus": 1})).status_code == 400
    assert sim.state.accounts["tsk_new_account_1234"].active is False


async def test_admin_delivery_validation(sim: Sim) -> None:
    async with sim.admin() as http:
        r = await http.post("/_admin/delivery", json={"mobile": MOBILE, "outcome": "lost"})
        assert r.status_code == 400


async def test_admin_reset_restores_initial_state(sim: Sim, client: TurkeySmsClient) -> None:
    await client.send_sms(MOBILE, "hello", lang=Lang.EN)
    sim.account.active = False
    async with sim.admin() as http:
        await http.post("/_admin/faults", json={"mode": "html"})
        assert (await http.post("/_admin/reset")).status_code == 204
    assert sim.state.inbox == []
    assert sim.account.active is True
    assert sim.account.local_balance_sms == 10_000
    assert sim.state.faults.mode == "none"
    assert (await client.balance()).local_sms == 10_000


def test_with_account_class_and_instance_forms() -> None:
    state = SimulatorState.with_account("k1").with_account("k2", sender_id="X", active=False)
    assert set(state.accounts) == {"k1", "k2"}
    assert state.accounts["k2"].sender_ids == {"X": "active"}
    with pytest.raises(TypeError):
        state.with_account("k3", bogus=True)


# -- inbox -----------------------------------------------------------------------------


async def test_inbox_json_filters_by_mobile_newest_first(sim: Sim, client: TurkeySmsClient) -> None:
    await client.send_sms(MOBILE, "first", lang=Lang.EN)
    await client.send_sms("905441234567", "other", lang=Lang.EN)
    await client.send_sms(MOBILE, "second", lang=Lang.EN)
    async with sim.admin() as http:
        mine = (await http.get("/inbox", params={"mobile": MOBILE})).json()["messages"]
        everyone = (await http.get("/inbox", headers={"Accept": "application/json"})).json()
        assert [m["text"] for m in mine] == ["second", "first"]
        assert {"mobile", "text", "sender", "sent_at", "sms_id", "parts"} <= set(mine[0])
        assert len(everyone["messages"]) == 3
        assert (await http.delete("/_admin/inbox")).status_code == 204
        assert (await http.get("/inbox")).json() == {"messages": []}


@pytest.mark.parametrize(
    ("params", "headers"),
    [({"format": "html"}, {}), ({}, {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})],
)
async def test_inbox_html_page(
    sim: Sim, client: TurkeySmsClient, params: dict[str, str], headers: dict[str, str]
) -> None:
    await client.send_sms(MOBILE, '<script>alert("x")</script> & code 1234', lang=Lang.EN)
    async with sim.admin() as http:
        r = await http.get("/inbox", params=params, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; code 1234" in r.text
    assert "<script>" not in r.text
    assert 'http-equiv="refresh"' in r.text
    assert f"+{MOBILE}" in r.text


async def test_inbox_html_empty() -> None:
    import httpx

    app = create_simulator()
    async with httpx.AsyncClient(transport=asgi(app), base_url="http://s") as h:
        r = await h.get("/inbox?format=html")
    assert "No messages yet" in r.text


def test_standalone_access_log_redacts_the_key() -> None:
    import logging

    from otpservice.simulator.server import _RedactQuery, build_state

    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:1", "GET", "/api/v3/get/get.php?api_key=SEKRET123&text=code+1234", "1.1", 200),
        None,
    )
    assert _RedactQuery().filter(record)
    assert isinstance(record.args, tuple)
    assert len(record.args) == 5
    assert "SEKRET123" not in record.getMessage()
    assert "1234" not in record.getMessage()
    state = build_state(["k1", "k2"], "BRAND")
    assert state.accounts["k2"].sender_ids == {"BRAND": "active"}
