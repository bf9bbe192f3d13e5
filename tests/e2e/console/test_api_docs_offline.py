"""The API docs render in a browser with every request off the machine cut."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import Sim, service_env
from tests.e2e.console.conftest import Console, Offline


@pytest.fixture
def console_env(redis_url: str, sim: Sim) -> dict[str, str]:
    """Production settings with the docs on (OTP_API_DOCS; they are off by default)."""
    return service_env(redis_url, sim, OTP_CONSOLE="true", OTP_API_DOCS="true")


def _operations(page: Page) -> list[str]:
    page.wait_for_selector(".opblock-summary-path", timeout=20_000)
    return page.locator(".opblock-summary-path").all_inner_texts()


def test_swagger_renders_its_operations_without_internet(
    console: Console, offline: Offline
) -> None:
    page = console.goto("/schema/swagger")
    paths = _operations(page)
    assert any("/v1/verifications" in p for p in paths)
    assert any("{verification_id}/check" in p for p in paths)
    console.shot("swagger-offline")
    # The schema root is the same page.
    assert _operations(console.goto("/schema")) == paths
    # It did not even try: every asset came from the service.
    assert offline.refused == []
