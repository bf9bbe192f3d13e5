"""A session-wide code and secret leak check for the end-to-end suite.

What it collects:
- every response the service gives through the e2e ``Api`` helper (status line, headers, body);
- every log line the service writes (structlog, teed in the ServiceServer harness without
  changing how the service logs, plus the stdlib root logger);
- every code that reached a phone (read from the simulator's inbox, the only place a code may
  appear) and the fixed secrets (OTP_SECRET, client keys, the provider key).

How it compares, and why (false positives): secrets are long random strings, so a substring
match is exact enough. Codes are 4-10 digits, so a substring match would fire by chance inside
a 64-hex id, a request id, an ISO timestamp's microseconds or a port. A code therefore counts
as leaked only when it appears as a whole token (not touching other digits or hex letters)
after the known digit-bearing shapes are removed: hex runs of 16+ characters (ids, digests),
UUIDs, ISO timestamps, ``host:port`` and the seconds of a 429's ``Retry-After`` header and
``retry_after`` field (a 4-digit code once came out as 3600 and matched an hour's wait),
a ``Content-Length`` header, the provider's ``TS-`` result codes, decimal numbers, a
provider's SMS balance in /v1/admin/providers and /v1/balance, an HTTP ``Date`` header's year,
a process id in granian's start-up lines and the fixed years in the docs pages' markup.
Whole-token matching still catches the ways a code really leaks (``"code": "123456"``,
``code=123456``, ``... is 123456.``).
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import structlog

_NOISE = [
    re.compile(r"\d{4}-\d{2}-\d{2}[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?"),  # timestamps
    re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"),
    re.compile(r"[0-9a-fA-F]{16,}"),  # ids, tags, digests
    re.compile(r"(?:127\.0\.0\.1|localhost|\[::1\]):\d+"),  # test servers' ports
    re.compile(r"retry-after: \d+", re.IGNORECASE),  # a 429's header
    re.compile(r'"retry_after": ?\d+'),  # and its problem field
    re.compile(r"content-length: \d+", re.IGNORECASE),  # a 4828-byte answer met code 4828
    re.compile(r"TS-\d+"),  # the provider's result codes (TS-1040 met code 1040)
    re.compile(r"\d+\.\d+"),  # decimals ("expires_in_seconds": 3599.97 met code 3599)
    re.compile(r'"balance_sms": ?\d+'),  # a provider's SMS left (10,000 - 1 met code 9999)
    re.compile(r'"local_sms": ?\d+'),  # the same in /v1/balance (10,000 - 2 met code 9998)
    # Shapes a run draws by chance and a 4-digit code can equal: the year in an HTTP Date
    # header (every answer carries "2026"), a process id in granian's start-up lines, and
    # the fixed years of XML namespaces and JSON Schema drafts in the docs pages.
    re.compile(r"^date: [^\n]*GMT$", re.IGNORECASE | re.MULTILINE),
    re.compile(r"\bPID:? \d+", re.IGNORECASE),
    re.compile(r"www\.w3\.org/\d+/|json-schema-\d+-\d+|ISO 8601"),
]
_TOKEN = re.compile(r"(?<![0-9A-Za-z])\d{4,10}(?![0-9A-Za-z])")


def digit_tokens(text: str) -> set[str]:
    """The standalone 4-10 digit tokens of ``text`` once ids, timestamps and ports are gone."""
    for pattern in _NOISE:
        text = pattern.sub(" ", text)
    return set(_TOKEN.findall(text))


def find_leaks(
    texts: Iterable[tuple[str, str]], codes: Iterable[str], secrets: Iterable[str]
) -> list[str]:
    """Where any code or secret appears in ``texts`` ((origin, text) pairs): one line each."""
    code_set = set(codes)
    secret_list = [s for s in secrets if s]
    found: list[str] = []
    for origin, text in texts:
        for secret in secret_list:
            if secret in text:
                found.append(f"{origin}: a secret ({secret[:4]}...) in {text[:200]!r}")
        for code in sorted(digit_tokens(text) & code_set):
            found.append(f"{origin}: code {code} in {text[:300]!r}")
    return found


class LeakCollector:
    """Thread-safe: services log from their own threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.responses: list[str] = []
        self.logs: list[str] = []
        self.codes: set[str] = set()
        self.secrets: set[str] = set()

    def record_response(self, text: str) -> None:
        with self._lock:
            self.responses.append(text)

    def record_log(self, line: str) -> None:
        with self._lock:
            self.logs.append(line)

    def record_codes(self, codes: Iterable[str]) -> None:
        with self._lock:
            self.codes.update(codes)

    def record_secrets(self, *secrets: str) -> None:
        with self._lock:
            self.secrets.update(s for s in secrets if s)

    def mark(self) -> int:
        """A position in the log, for ``events_since``."""
        with self._lock:
            return len(self.logs)

    def lines_since(self, mark: int) -> list[str]:
        with self._lock:
            return self.logs[mark:]

    def events_since(self, mark: int) -> list[dict[str, Any]]:
        """The JSON log events (OTP_LOG_FORMAT=json) written since ``mark``."""
        events: list[dict[str, Any]] = []
        for line in self.lines_since(mark):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events

    def leaks(self) -> list[str]:
        with self._lock:
            texts = [("response", t) for t in self.responses] + [("log", t) for t in self.logs]
            codes, secrets = set(self.codes), set(self.secrets)
        return find_leaks(texts, codes, secrets)


COLLECTOR = LeakCollector()


SERVICE_THREAD = "otpservice-service"


def _from_service() -> bool:
    """Only the service's own lines count: the tests' HTTP clients (which put the provider
    key in the simulator's admin URLs) and the simulator (whose inbox holds codes) log from
    other threads. ServiceServer runs each service in a thread named SERVICE_THREAD-<port>."""
    return threading.current_thread().name.startswith(SERVICE_THREAD)


class _TeeLogger:
    """Wraps the logger structlog would use: every call is recorded, then passed on."""

    def __init__(self, inner: Any, sink: Callable[[str], None]) -> None:
        self._inner = inner
        self._sink = sink

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not callable(target):
            return target

        def call(*args: Any, **kwargs: Any) -> Any:
            if _from_service():
                line = " ".join(str(a) for a in args)
                if kwargs:
                    line += " " + repr(kwargs)
                self._sink(line)
            return target(*args, **kwargs)

        return call


class _TeeFactory:
    def __init__(self, inner: Callable[..., Any], sink: Callable[[str], None]) -> None:
        self.inner = inner
        self.sink = sink

    def __call__(self, *args: Any) -> _TeeLogger:
        return _TeeLogger(self.inner(*args), self.sink)


class _RootHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        if not record.threadName or not record.threadName.startswith(SERVICE_THREAD):
            return
        try:
            text = self.format(record)
        except Exception:  # a broken record must not break the service under test
            text = str(record.msg)
        COLLECTOR.record_log(text)


_root_handler = _RootHandler(level=logging.DEBUG)


def tee_service_logs() -> None:
    """Record what the service logs, keeping its configured output. Call after create_app
    (which configures structlog); idempotent."""
    factory = structlog.get_config()["logger_factory"]
    if not isinstance(factory, _TeeFactory):
        structlog.configure(logger_factory=_TeeFactory(factory, COLLECTOR.record_log))
    root = logging.getLogger()
    if _root_handler not in root.handlers:
        root.addHandler(_root_handler)
