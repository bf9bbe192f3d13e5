"""The console over plain HTTP, as a browser would drive it: cookies kept by hand (they are
Secure, and a test server speaks http), the CSRF token read from each form."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([0-9a-f]+)"')


class ConsoleHttp:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}
        self.csrf = ""

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            name, _, rest = header.partition("=")
            value = rest.split(";", 1)[0]
            if "Max-Age=0" in header or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if match := CSRF.search(response.text):
            self.csrf = match.group(1)
        return response

    def _headers(self) -> dict[str, str]:
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self._keep(self.http.get(path, params=params, headers=self._headers()))

    def post(self, path: str, data: dict[str, str], *, csrf: bool = True) -> httpx.Response:
        body = {"csrf": self.csrf, **data} if csrf else data
        return self._keep(self.http.post(path, data=body, headers=self._headers()))

    def sign_in(self, key: str) -> httpx.Response:
        self.get("/console/sign-in")
        return self.post("/console/sign-in", {"key": key})
