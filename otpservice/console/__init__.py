"""The operator console (/console) and the local assets of the API docs (/schema/assets).

Pages are rendered on the server (Litestar's Jinja support); the few scripts and the chart
library are files of this package, so nothing is loaded from another origin.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from litestar import Router
from litestar.datastructures import CacheControlHeader
from litestar.middleware.base import ASGIMiddleware
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig
from litestar.types import ASGIApp, ControllerRouterHandler, Receive, Scope, Send

HERE = Path(__file__).parent
STATIC = HERE / "static"
SWAGGER_ASSETS = STATIC / "vendor" / "swagger-ui"
DOCS_ASSETS_PATH = "/schema/assets"

# No inline script or style, nothing from another origin, no framing, forms post only here.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)
PAGE_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
)
PRIVATE = (b"cache-control", b"no-store")


class SecurityHeaders(ASGIMiddleware):
    """Every console response gets the page headers; all but static assets get no-store."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        static = str(scope.get("path", "")).startswith("/console/static/")

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in PAGE_HEADERS}
                if not static:
                    names.add(PRIVATE[0])
                headers = [h for h in message.get("headers", ()) if h[0].lower() not in names]
                headers.extend(PAGE_HEADERS)
                if not static:
                    headers.append(PRIVATE)
                message["headers"] = headers
            await send(message)

        await next_app(scope, receive, send_with_headers)


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    # Autoescaped, and a name missing from a page's context is an error, not an empty string.
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
    )
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment))


def console_router() -> Router:
    from otpservice.console.routes import ConsoleController

    static = create_static_files_router(
        path="/console/static",
        directories=[STATIC],
        cache_control=CacheControlHeader(max_age=3600),
        include_in_schema=False,
        name="console_static",
    )
    return Router(
        path="/", route_handlers=[ConsoleController, static], middleware=[SecurityHeaders()]
    )


async def warm_console(state: Any) -> None:
    """Add up the week's counters once at start, so the first view is as fast as the next;
    failures only mean the first view does it."""
    from otpservice.console.routes import ensure_data

    with contextlib.suppress(Exception):
        await ensure_data(state).warm()


def docs_assets_router() -> ControllerRouterHandler:
    """Swagger UI's files, served by the service itself (the docs work without internet)."""
    return create_static_files_router(
        path=DOCS_ASSETS_PATH,
        directories=[SWAGGER_ASSETS],
        cache_control=CacheControlHeader(max_age=86_400),
        include_in_schema=False,
        name="docs_assets",
    )
