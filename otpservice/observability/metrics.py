"""Prometheus metrics: the domain's Telemetry, HTTP request metrics and the provider balance.

One ``Metrics`` per app, each with its own registry, so tests can build many apps in one
process. With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set, which
``otpservice serve --workers N`` does), every process writes its samples to that directory
and ``/metrics`` merges them, so any worker answers for all of them.

Labels never carry a phone number, a code, a key or a raw path: routes are templates.
"""

from __future__ import annotations

import os

import structlog
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead

from otpservice import __version__
from otpservice.errors import MetricsUnavailable

log = structlog.get_logger("otpservice.metrics")

# `*_created` series double the scrape size and no alert here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Set once per process at start: a scrape without it found none of this process's samples.
ALWAYS_PRESENT = "otp_build_info"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Request latency: argon2 (owasp preset) dominates checks; provider calls dominate sends.
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0)
PROVIDER_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 30.0)


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _Collected:
    """Families collected once, rendered by generate_latest without collecting again."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> list[Metric]:
        return self.families


class Metrics:
    """Implements ``otpservice.domain.telemetry.Telemetry`` and owns every metric."""

    def __init__(self) -> None:
        self.multiprocess = multiprocess_dir() is not None
        # In multiprocess mode the values live in files; this registry only avoids
        # registering the same names twice in the process-wide default registry.
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_requests = Counter(
            "otp_http_requests",
            "HTTP requests answered, by route template, method and status.",
            ["method", "route", "status"],
            registry=r,
        )
        self.http_duration = Histogram(
            "otp_http_request_duration_seconds",
            "Time to answer an HTTP request, by route template and method.",
            ["method", "route"],
            buckets=REQUEST_BUCKETS,
            registry=r,
        )
        self.http_in_flight = Gauge(
            "otp_http_requests_in_flight",
            "Requests being served now.",
            registry=r,
            multiprocess_mode="livesum",
        )
        self.sends = Counter(
            "otp_sends",
            "Send attempts that reached the provider step, by outcome "
            "(sent, test, failed) and provider result code ('' when none).",
            ["outcome", "result_code"],
            registry=r,
        )
        self.checks = Counter(
            "otp_checks",
            "Code checks by outcome (approved, wrong_code, not_found, refused).",
            ["outcome"],
            registry=r,
        )
        self.refusals = Counter(
            "otp_refusals",
            "Requests refused by a policy (a limit, the fraud guard, a static country or "
            "prefix list), by policy name.",
            ["policy"],
            registry=r,
        )
        self.prefix_blocks = Counter(
            "otp_prefix_blocks",
            "Number prefixes blocked by the SMS-pumping burst guard.",
            registry=r,
        )
        self.guard_events = Counter(
            "otp_guard_events",
            "Fraud guard decisions: guard_blocked, country_blocked, monitor_blocked "
            "(would-be blocks in monitor mode), country_alert.",
            ["kind"],
            registry=r,
        )
        self.budget_exhausted_alerts = Counter(
            "otp_budget_exhausted",
            "Shared budgets (country, global, client shares) exhausted: one per budget window.",
            ["policy"],
            registry=r,
        )
        self.policy_changes = Counter(
            "otp_policy_changes",
            "Runtime policy versions this process applied.",
            registry=r,
        )
        self.provider_duration = Histogram(
            "otp_provider_call_duration_seconds",
            "Time spent in a call to the SMS provider, by operation.",
            ["operation"],
            buckets=PROVIDER_BUCKETS,
            registry=r,
        )
        self.balance_sms = Gauge(
            "otp_provider_balance_sms",
            "Local SMS credits left at the provider (last successful poll).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.balance_tl = Gauge(
            "otp_provider_balance_international_tl",
            "International balance in TL at the provider (last successful poll).",
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.balance_polled = Gauge(
            "otp_provider_balance_last_success_timestamp_seconds",
            "Unix time of the last successful balance poll.",
            registry=r,
            multiprocess_mode="max",
        )
        self.balance_poll_errors = Counter(
            "otp_provider_balance_poll_errors",
            "Balance polls that failed.",
            registry=r,
        )
        self.provider_sends = Counter(
            "otp_provider_sends",
            "Sends tried per provider, by outcome: sent, number_refused, refused (definite, "
            "nothing left), uncertain (may have left), skipped (breaker open).",
            ["provider", "outcome"],
            registry=r,
        )
        self.provider_send_duration = Histogram(
            "otp_provider_send_duration_seconds",
            "Time of one send call to a provider, by provider.",
            ["provider"],
            buckets=PROVIDER_BUCKETS,
            registry=r,
        )
        self.breaker = Gauge(
            "otp_provider_breaker_state",
            "Circuit breaker per provider as this process last saw it: 0 closed, "
            "1 half-open (probing), 2 open.",
            ["provider"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.account_balance_sms = Gauge(
            "otp_provider_account_balance_sms",
            "Local SMS credits left per Turkey SMS account (last successful poll).",
            ["provider"],
            registry=r,
            multiprocess_mode="mostrecent",
        )
        self.build_info = Gauge(
            "otp_build_info",
            "Always 1; the version is a label.",
            ["version"],
            registry=r,
            multiprocess_mode="max",
        )
        self.build_info.labels(__version__).set(1)
        self._request_children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}
        self._refusal_children: dict[str, Counter] = {}

    # -- Telemetry (the domain reports here) -----------------------------------------------

    def send(self, outcome: str, result_code: str | None) -> None:
        self.sends.labels(outcome, result_code or "").inc()

    def check(self, outcome: str) -> None:
        self.checks.labels(outcome).inc()

    def refused(self, policy: str) -> None:
        child = self._refusal_children.get(policy)
        if child is None:  # policy names are the configuration's: a closed set
            child = self._refusal_children[policy] = self.refusals.labels(policy)
        child.inc()

    def prefix_blocked(self) -> None:
        self.prefix_blocks.inc()

    def guard(self, kind: str) -> None:
        self.guard_events.labels(kind).inc()

    def budget_exhausted(self, policy: str) -> None:
        self.budget_exhausted_alerts.labels(policy).inc()

    def provider_call(self, operation: str, seconds: float) -> None:
        self.provider_duration.labels(operation).observe(seconds)

    # -- RoutingTelemetry (the provider router reports here) -------------------------------

    def provider_send(self, provider: str, outcome: str, seconds: float) -> None:
        self.provider_sends.labels(provider, outcome).inc()
        if outcome != "skipped":
            self.provider_send_duration.labels(provider).observe(seconds)

    def breaker_state(self, provider: str, state: int) -> None:
        self.breaker.labels(provider).set(state)

    def provider_balance(self, provider: str, local_sms: int, international_tl: float) -> None:
        self.account_balance_sms.labels(provider).set(local_sms)

    # -- HTTP and balance -------------------------------------------------------------------

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        # The labelled children, looked up once per (method, route, status): ``labels()``
        # validates and joins its values under a lock on every call (~5 % of a refusal's
        # CPU, bench/NOTES.md). Bounded: methods and routes come from closed sets.
        children = self._request_children.get((method, route, status))
        if children is None:
            children = (
                self.http_requests.labels(method, route, str(status)),
                self.http_duration.labels(method, route),
            )
            self._request_children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def balance(self, local_sms: int, international_tl: float, at: float) -> None:
        self.balance_sms.set(local_sms)
        self.balance_tl.set(international_tl)
        self.balance_polled.set(at)

    # -- exposition -------------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format for a scrape: this process, or all workers in multiprocess mode.

        Raises MetricsUnavailable (logged) when the build-info gauge every process sets at
        start is missing: an empty 200 would leave every alert blind without a sound (it
        happened when prometheus-client was imported before its directory was set).
        """
        directory = multiprocess_dir()
        registry = self.registry
        if self.multiprocess and directory:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
        families = list(registry.collect())
        if not any(f.name == ALWAYS_PRESENT and f.samples for f in families):
            log.error(
                "metrics.no_samples",
                multiprocess=self.multiprocess,
                detail="no sample of otp_build_info: this process's metrics are not collected",
            )
            raise MetricsUnavailable("The metrics of this process are not being collected.")
        return generate_latest(_Collected(families))

    def close(self) -> None:
        """A worker is going away: drop its live gauges from the merged view."""
        directory = multiprocess_dir()
        if self.multiprocess and directory:
            mark_process_dead(os.getpid(), directory)  # type: ignore[no-untyped-call]
