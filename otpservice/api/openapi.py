"""The problem responses each route declares in the OpenAPI document, with their codes."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar._openapi.schema_generation.schema import SchemaCreator
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Link, OpenAPIResponse, Operation, Schema
from litestar.typing import FieldDefinition

from otpservice.api.schemas import Problem

# Stable operation ids: the links below, and clients' generated code, name operations by them.
OP_CREATE = "createVerification"
OP_CHECK = "checkVerification"
OP_CHECK_BY_PHONE = "checkVerificationByPhone"
OP_GET = "getVerification"
OP_CANCEL = "cancelVerification"
OP_DELIVERY = "getVerificationDelivery"
OP_BALANCE = "getProviderBalance"
OP_EVENTS = "listEvents"
OP_VERIFICATION_EVENTS = "listVerificationEvents"
OP_STATS = "getStats"

# What a created verification's `id` leads to (OpenAPI links: docs, and Schemathesis's
# stateful mode follows them from a 201 to the calls that use the new id).
_BY_ID = {"verification_id": "$response.body#/id"}
CREATED_LINKS: dict[str, tuple[str, str]] = {
    "GetVerification": (OP_GET, "Read the verification just created."),
    "CheckVerification": (OP_CHECK, "Check the code sent for it."),
    "CancelVerification": (OP_CANCEL, "Cancel it."),
    "GetVerificationDelivery": (OP_DELIVERY, "The delivery status of its SMS."),
}


def _links(targets: dict[str, tuple[str, str]]) -> dict[str, Link]:
    return {
        name: Link(operation_id=op, parameters=dict(_BY_ID), description=text)
        for name, (op, text) in targets.items()
    }


@dataclass
class CreateOperation(Operation):
    """The create operation, with links from its 201 to the operations that take the id.

    Litestar's ResponseSpec has no `links`; an operation class is its per-route hook, so the
    served document and `otpservice openapi` both carry them.
    """

    def __post_init__(self) -> None:
        created = (self.responses or {}).get("201")
        if isinstance(created, OpenAPIResponse):
            created.links = {**(created.links or {}), **_links(CREATED_LINKS)}


class ClosedStructSchemas(StructSchemaPlugin):
    """Request bodies refuse unknown fields (``forbid_unknown_fields``); say so in the
    contract (``additionalProperties: false``), which Litestar's struct plugin leaves out.
    Registered as an app plugin, it is consulted before Litestar's own."""

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        if not super().is_plugin_supported_field(field_definition):
            return False
        info = msgspec.inspect.type_info(field_definition.type_)
        return isinstance(info, msgspec.inspect.StructType) and info.forbid_unknown_fields

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


# status -> (what it means, the problem codes it can carry)
MEANINGS: dict[int, str] = {
    400: "Malformed request: body not JSON, wrong types, unknown fields; parameter too long.",
    401: "Missing or unknown API key.",
    403: "Not allowed: key scope, destination country or number prefix.",
    404: "No pending verification matches (the same body for every reason).",
    409: "Idempotency-Key reused with another body, or its first request is still running.",
    413: "Request body larger than OTP_MAX_BODY_BYTES.",
    415: "Body is not application/json.",
    422: "Well-formed but invalid: phone, code or client_ip; or refused by the provider.",
    429: "Refused by a throttling policy; see `policy` and `Retry-After`.",
    503: "Redis or the SMS provider is unavailable; the detail says what may have been "
    "recorded (nothing, for a read).",
}
NOT_READY_MEANING = "Redis does not answer or the scripts are not loaded."


def problems(
    codes: dict[int, tuple[str, ...]], meanings: dict[int, str] | None = None
) -> dict[int, ResponseSpec]:
    said = {**MEANINGS, **(meanings or {})}
    return {
        status: ResponseSpec(
            data_container=Problem,
            media_type="application/problem+json",
            description=f"{said[status]} Codes: {', '.join(sorted(names))}.",
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
# A path id longer than its maxLength is refused by validation: 400 invalid_request.
BAD_ID = {400: ("invalid_request",)}
READ = problems({**AUTH, **BAD_ID, 404: ("verification_not_found",), **UNAVAILABLE})
DELIVERY = problems(
    {
        **AUTH,
        **BAD_ID,
        404: ("verification_not_found",),
        503: ("provider_unavailable", "storage_unavailable"),
    }
)
BALANCE = problems({**AUTH, 403: ("forbidden",), 503: ("provider_unavailable",)})
HISTORY = problems(
    {**AUTH, 400: ("invalid_request",), 422: ("invalid_phone", "invalid_request"), **UNAVAILABLE}
)
VERIFICATION_EVENTS = READ
STATS = problems({**AUTH, 400: ("invalid_request",), 422: ("invalid_request",), **UNAVAILABLE})
ADMIN: dict[int, tuple[str, ...]] = {**AUTH, 403: ("forbidden",), **UNAVAILABLE}
_ADMIN_MEANINGS = {
    403: "This call needs an admin key (OTP_ADMIN_API_KEYS).",
    404: "No webhook endpoint with this id, or no dead letter with this event id there.",
    503: "Redis is unavailable; the detail says what may have been recorded.",
}
WEBHOOKS = problems(ADMIN, _ADMIN_MEANINGS)
ADMIN_PROVIDERS = problems(ADMIN, _ADMIN_MEANINGS)
WEBHOOK = problems({**ADMIN, **BAD_ID, 404: ("webhook_not_found",)}, _ADMIN_MEANINGS)
WEBHOOK_POST = problems(
    {**ADMIN, **BAD_ID, 404: ("webhook_not_found",), 415: ("unsupported_media_type",)},
    _ADMIN_MEANINGS,
)
DEAD_LETTER_POST = problems(
    {
        **ADMIN,
        **BAD_ID,
        404: ("webhook_not_found", "dead_letter_not_found"),
        415: ("unsupported_media_type",),
    },
    _ADMIN_MEANINGS,
)
NOT_READY = {
    503: ResponseSpec(
        data_container=Problem,
        media_type="application/problem+json",
        description=f"{NOT_READY_MEANING} Codes: not_ready.",
        generate_examples=False,
    )
}
