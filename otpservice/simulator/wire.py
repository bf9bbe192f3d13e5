"""The provider's wire format as the simulator speaks it: its TS- codes and messages,
the HTTP status of each refusal, PHP-style answers, parameters read from the query and the
body as the provider reads them."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any, Final
from urllib.parse import parse_qsl

from litestar import Request, Response

PROVIDER_TZ: Final = timezone(timedelta(hours=3))  # Europe/Istanbul, no DST

MESSAGES: Final = {
    "TS-1022": "The number did not receive the message",
    "TS-1023": "The number out of coverage did not receive the message yet",
    "TS-1024": "The message was sent successfully",
    "TS-1025": "The mobile number has not been entered. The phone number is empty",
    "TS-1026": "Message text is empty .. No message text has been written",
    "TS-1027": "There is insufficient balance in your account",
    "TS-1028": "Sender ID is not active for your account",
    "TS-1029": "The Sender ID does not exist .. Please make sure you type correctly",
    "TS-1030": "Your account is inactive with the SMS service provider",
    "TS-1031": "The api-key is invalid",
    "TS-1032": "The number to which the message is sent is international outside Turkey. "
    "Your account is not activated for international SMS",
    "TS-1033": "The data sent through the link is incorrect",
    "TS-1034": "The mobile number to which the message was sent is invalid",
    "TS-1040": "operation_success",
    "TS-1050": "Contact key is empty and not written",
    "TS-1051": "Sending title is empty and not written",
    "TS-1052": "Message ID is not written",
    "TS-1060": "Exceeded the limit of the number of messages in the last minute",
    "TS-1061": "Contact key is not active for sending (POST)",
    "TS-1062": "Contact key is not active for sending (GET)",
    "TS-1063": "Checking message status is not active for the contact key",
    "TS-1064": "Message status check is successful",
    "TS-1065": "Checking balance is not active for your account's contact key",
}
HTTP_STATUS: Final = {
    "TS-1031": 401,
    "TS-1027": 403,
    "TS-1028": 403,
    "TS-1060": 403,
    "TS-1061": 403,
    "TS-1065": 403,
    "TS-1033": 400,
}
LANG_NAMES: Final = {0: "English", 1: "Turkish", 2: "Arabic"}
CONTENT_TYPES: Final = {0: "Transactional", 1: "High Quality", 2: "Advertising"}
OTP_TEXTS: Final = {
    0: "Your verification code is {code}",
    1: "Doğrulama kodunuz: {code}",
    2: "رمز التحقق الخاص بك هو {code}",
}
COUNTRIES: Final = {
    "90": "Turkey-TR",
    "1": "United States-US",
    "44": "United Kingdom-GB",
    "49": "Germany-DE",
    "33": "France-FR",
    "31": "Netherlands-NL",
    "966": "Saudi Arabia-SA",
    "971": "United Arab Emirates-AE",
    "964": "Iraq-IQ",
    "963": "Syria-SY",
    "962": "Jordan-JO",
}
STATUS_TEXTS: Final = {
    "delivered": ("Number received the message", "TS-1024"),
    "not_delivered": ("The number did not receive the message", "TS-1022"),
    "out_of_coverage": ("The number out of coverage did not receive the message yet", "TS-1023"),
    "pending": ("Waiting for the delivery report", ""),
}


class Refused(Exception):
    """A provider refusal with its ``TS-`` code; turned into the documented answer."""

    def __init__(self, code: str, failure_result: object = False) -> None:
        super().__init__(code)
        self.code = code
        self.failure_result = failure_result


def php_value(v: object) -> str:
    """Every parameter as the string PHP would see (JSON ints and bools included)."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "1" if v else ""
    return str(v).strip()


def print_r(fields: dict[str, Any]) -> str:
    """A flat PHP ``print_r`` dump: ``true`` prints as ``1``, ``false`` as nothing."""
    lines = ["Array", "("]
    lines += [f"    [{k}] => {php_value(v)}" for k, v in fields.items()]
    lines += [")", ""]
    return "\n".join(lines)


def answer(fields: dict[str, Any], params: dict[str, str], status: int = 200) -> Response[bytes]:
    if params.get("response_type", "").lower() == "json":
        body = json.dumps(fields, ensure_ascii=False).encode()
        return Response(body, status_code=status, media_type="application/json")
    return Response(print_r(fields).encode(), status_code=status, media_type="text/html")


def refusal(exc: Refused, params: dict[str, str]) -> Response[bytes]:
    fields = {
        "result": exc.failure_result,
        "result_code": exc.code,
        "result_message": MESSAGES[exc.code],
    }
    return answer(fields, params, HTTP_STATUS.get(exc.code, 200))


async def read_params(request: Request[Any, Any, Any]) -> dict[str, str]:
    """Query string merged with a JSON or form body (the body wins)."""
    params = {k: php_value(v) for k, v in request.query_params.items()}
    raw = await request.body()
    if not raw.strip():
        return params
    content_type = request.headers.get("content-type", "")
    if "form" in content_type:
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return params
    try:
        body = json.loads(raw)
    except ValueError:
        raise Refused("TS-1033") from None
    if not isinstance(body, dict):
        raise Refused("TS-1033")
    params.update({str(k): php_value(v) for k, v in body.items()})
    return params


def country_of(mobile: str) -> str:
    for length in (3, 2, 1):
        if mobile[:length] in COUNTRIES:
            return COUNTRIES[mobile[:length]]
    return "International"


def operator_of(mobile: str) -> str:
    if not mobile.startswith("90"):
        return "International"
    prefix = mobile[2:4]
    return {"53": "Turkcell", "54": "Vodafone", "50": "Turk Telekom", "55": "Turk Telekom"}.get(
        prefix, "Turkcell"
    )


def now_provider() -> datetime:
    return datetime.now(PROVIDER_TZ).replace(microsecond=0)


def small_int(params: dict[str, str], name: str, default: int, allowed: range) -> int:
    raw = params.get(name, "")
    if raw == "":
        return default
    if not raw.isdigit() or int(raw) not in allowed:
        raise Refused("TS-1033")
    return int(raw)
