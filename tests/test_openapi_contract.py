"""openapi/openapi.json is the committed contract: the running app must match it."""

from __future__ import annotations

import json
from pathlib import Path

from otpservice.cli import openapi_document

COMMITTED = Path(__file__).resolve().parent.parent / "openapi" / "openapi.json"


def test_app_schema_matches_the_committed_contract() -> None:
    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert openapi_document() == committed, (
        "the API changed: run `otpservice openapi` and commit openapi/openapi.json"
    )


def test_contract_declares_every_v1_route() -> None:
    paths = json.loads(COMMITTED.read_text(encoding="utf-8"))["paths"]
    for path in (
        "/v1/verifications",
        "/v1/verifications/check",
        "/v1/verifications/{verification_id}",
        "/v1/verifications/{verification_id}/check",
        "/v1/verifications/{verification_id}/delivery",
        "/v1/provider/balance",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path


def test_created_verification_links_to_the_calls_that_take_its_id() -> None:
    document = json.loads(COMMITTED.read_text(encoding="utf-8"))
    operations = {
        op["operationId"]: (path, op)
        for path, item in document["paths"].items()
        for op in item.values()
        if isinstance(op, dict) and "operationId" in op
    }
    created = document["paths"]["/v1/verifications"]["post"]["responses"]["201"]
    links = created["links"]
    targets = {link["operationId"] for link in links.values()}
    assert targets == {
        "getVerification",
        "checkVerification",
        "cancelVerification",
        "getVerificationDelivery",
    }
    for link in links.values():
        path, operation = operations[link["operationId"]]
        path_params = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
        # Every link fills exactly the path parameters of its target, from the 201's `id`.
        assert set(link["parameters"]) == path_params == {"verification_id"}, path
        assert link["parameters"]["verification_id"] == "$response.body#/id"
    assert "id" in document["components"]["schemas"]["VerificationOut"]["properties"]
