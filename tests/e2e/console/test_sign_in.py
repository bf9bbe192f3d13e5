"""Signing in and out of the console in a real browser, and what its pages send."""

from __future__ import annotations

from tests.e2e.conftest import ADMIN_KEY, WEB_KEY
from tests.e2e.console.conftest import Console


def test_a_wrong_admin_key_is_refused_and_a_right_one_signs_in_and_out(console: Console) -> None:
    page = console.sign_in("not-a-key-of-this-service-000")
    assert page.url.endswith("/console/sign-in")
    assert "not an admin key" in page.inner_text("[role=alert]")
    console.shot("sign-in-refused")

    page = console.sign_in(WEB_KEY)  # a client key, not an admin key
    assert page.url.endswith("/console/sign-in")
    assert "not an admin key" in page.inner_text("[role=alert]")

    page = console.sign_in(ADMIN_KEY)
    assert page.url.endswith("/console/overview")
    assert page.inner_text("header .who") == "ops"
    console.shot("overview-signed-in")

    with page.expect_navigation():
        page.click("form.sign-out button")
    assert page.url.endswith("/console/sign-in")
    # The session is gone on the server too: the overview sends back to the sign-in form.
    console.goto("/console/overview")
    assert console.page.url.endswith("/console/sign-in")
    assert not console.csp_violations


def test_the_session_cookie_is_httponly_secure_strict_and_expires(console: Console) -> None:
    console.sign_in()
    cookies = {c["name"]: c for c in console.page.context.cookies()}
    session = cookies["otp_console"]
    assert session["httpOnly"] is True
    assert session["secure"] is True
    assert session["sameSite"] == "Strict"
    assert session["path"] == "/console"
    assert session["expires"] > 0  # not a browser-session cookie: it has an expiry
    assert ADMIN_KEY not in session["value"]


def test_pages_forbid_inline_script_framing_and_caching(console: Console) -> None:
    console.sign_in()
    response = console.page.request.get(console.url + "/console/overview")
    assert response.status == 200
    headers = response.headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["cache-control"] == "no-store"
    html = response.text()
    assert "<script>" not in html and " on" + "click=" not in html
    sign_in = console.page.request.get(console.url + "/console/sign-in")
    assert sign_in.headers["cache-control"] == "no-store"


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console: Console) -> None:
    console.sign_in()
    # The browser sends the session cookie (same site), but not the form's token.
    response = console.page.request.post(
        console.url + "/console/sign-out", form={"csrf": "0" * 64}, max_redirects=0
    )
    assert response.status == 403
    assert response.json()["code"] == "csrf_failed"
    response = console.page.request.post(
        console.url + "/console/sign-out", form={}, max_redirects=0
    )
    assert response.status == 403
    # Still signed in: the refused sign-out did nothing.
    console.goto("/console/overview")
    assert console.page.url.endswith("/console/overview")


def test_the_sign_in_form_needs_its_own_token(console: Console) -> None:
    console.goto("/console/sign-in")
    response = console.page.request.post(
        console.url + "/console/sign-in", form={"key": ADMIN_KEY}, max_redirects=0
    )
    assert response.status == 403
    assert response.json()["code"] == "csrf_failed"
    assert not [c for c in console.page.context.cookies() if c["name"] == "otp_console"]
