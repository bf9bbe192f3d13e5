"""Browser tests of the console: Playwright for Python driving Debian's chromium
(``/usr/bin/chromium`` through ``executable_path``; no browser is downloaded). Every page a test
sees joins the e2e leak check, and a screenshot of it is kept under ``artifacts/console/``."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from tests.e2e.conftest import ADMIN_KEY, Api, Sim, service_env
from tests.support.leaks import COLLECTOR
from tests.support.servers import ServiceServer

CHROMIUM = os.environ.get("OTP_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "console"
LOOPBACK = re.compile(r"^(?:https?|wss?)://(?:127\.\d+\.\d+\.\d+|localhost|\[::1\])(?::\d+)?/")


# Per module, not per session: Playwright's sync API keeps an event loop running on the
# main thread while it is open, and every later test that calls asyncio.run would fail.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


class Offline:
    """Every request that leaves the machine is aborted, and remembered."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def __call__(self, route: Route) -> None:
        url = route.request.url
        if LOOPBACK.match(url) or url.startswith(("data:", "blob:", "about:")):
            route.continue_()
        else:
            self.refused.append(url)
            route.abort()


@pytest.fixture
def offline() -> Offline:
    return Offline()


@pytest.fixture
def context(browser: Browser, offline: Offline) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    ctx.route("**/*", offline)
    yield ctx
    ctx.close()


class Console:
    """The service with its console on (production settings: Secure cookies and all), an
    API caller for the same service, and a browser page."""

    def __init__(self, server: ServiceServer, page: Page) -> None:
        # localhost, not 127.0.0.1: a Secure cookie over plain http is kept for localhost.
        self.url = server.url.replace("127.0.0.1", "localhost")
        self.api = Api(server.url)
        self.admin_api = Api(server.url, ADMIN_KEY)
        self.page = page
        self.csp_violations: list[str] = []
        page.on("console", self._on_console)

    def _on_console(self, message: object) -> None:
        text = str(getattr(message, "text", ""))
        if "Content Security Policy" in text or "Refused to" in text:
            self.csp_violations.append(text)

    def goto(self, path: str) -> Page:
        self.page.goto(self.url + path)
        self.page.wait_for_load_state("load")
        self.seen()
        return self.page

    def seen(self) -> str:
        """The page's HTML, fed to the leak check."""
        html = self.page.content()
        COLLECTOR.record_response(f"console {self.page.url}\n\n{html}")
        return html

    def sign_in(self, key: str = ADMIN_KEY) -> Page:
        page = self.goto("/console/sign-in")
        page.fill("#key", key)
        with page.expect_navigation():
            page.click("button[type=submit]")
        self.seen()
        return page

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def console_env(redis_url: str, sim: Sim) -> dict[str, str]:
    return service_env(redis_url, sim, OTP_CONSOLE="true", OTP_API_DOCS="1")


@pytest.fixture
def console(console_env: dict[str, str], context: BrowserContext) -> Iterator[Console]:
    with ServiceServer(console_env) as server:
        yield Console(server, context.new_page())
