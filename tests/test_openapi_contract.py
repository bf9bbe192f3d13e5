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
