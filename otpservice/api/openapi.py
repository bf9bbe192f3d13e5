"""The problem responses each route declares in the OpenAPI document, with their codes."""

from __future__ import annotations

from litestar.openapi.datastructures import ResponseSpec

from otpservice.api.schemas import Problem

# status -> (what it means, the problem codes it can carry)
MEANINGS: dict[int, str] = {
    400: "Malformed body: not JSON, wrong types, unknown fields.",
    401: "Missing or unknown API key.",
    403: "Not allowed: key scope, destination country or number prefix.",
    404: "No pending verification matches (the same body for every reason).",
    409: "Idempotency-Key reused with another body, or its first request is still running.",
    413: "Request body larger than OTP_MAX_BODY_BYTES.",
    415: "Body is not application/json.",
    422: "Well-formed but invalid: phone, code or client_ip; or refused by the provider.",
    429: "Refused by a throttling policy; see `policy` and `Retry-After`.",
    503: "Redis or the SMS provider is unavailable; nothing was changed.",
}


def problems(codes: dict[int, tuple[str, ...]]) -> dict[int, ResponseSpec]:
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description=f"{MEANINGS[status]} Codes: {', '.join(sorted(names))}.",
            generate_examples=False,
        )
        for status, names in codes.items()
    }


AUTH = {401: ("unauthorized",)}
BODY = {
    400: ("invalid_request",),
    413: ("body_too_large",),
    415: ("unsupported_media_type",),
}
UNAVAILABLE = {503: ("storage_unavailable",)}

CREATE = problems(
    {
        **AUTH,
        **BODY,
        403: ("country_not_allowed", "prefix_denied"),
        409: ("idempotency_conflict", "idempotency_in_progress"),
        422: ("invalid_phone", "invalid_request", "phone_rejected"),
        429: ("rate_limited",),
        503: ("provider_unavailable", "storage_unavailable"),
    }
)
CHECK = problems(
    {
        **AUTH,
        **BODY,
        404: ("verification_not_found",),
        422: ("invalid_code", "invalid_request"),
        429: ("rate_limited",),
        **UNAVAILABLE,
    }
)
CHECK_BY_PHONE = problems(
    {
        **AUTH,
        **BODY,
        404: ("verification_not_found",),
        422: ("invalid_code", "invalid_phone", "invalid_request"),
        429: ("rate_limited",),
        **UNAVAILABLE,
    }
)
READ = problems({**AUTH, 404: ("verification_not_found",), **UNAVAILABLE})
DELIVERY = problems(
    {**AUTH, 404: ("verification_not_found",), 503: ("provider_unavailable", "storage_unavailable")}
)
BALANCE = problems({**AUTH, 403: ("forbidden",), 503: ("provider_unavailable",)})
