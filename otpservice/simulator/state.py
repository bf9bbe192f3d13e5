"""Mutable state of the simulated provider: accounts, inbox, delivery outcomes, faults.

Plain dataclasses so tests can read and tweak them directly; the admin endpoints
do the same over HTTP. Nothing here imports the service: the simulator must stay an
independent picture of the provider, not a mirror of our client.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

OUTCOMES: Final = ("delivered", "not_delivered", "out_of_coverage", "pending")
FAULT_MODES: Final = (
    "none",
    "latency",
    "http_500",
    "http_502",
    "http_503",
    "hang",
    "malformed_json",
    "html",
    "reset",
)
SENDER_STATES: Final = ("active", "inactive")

# GSM 03.38 default alphabet (without ESC) and its extension table (two septets each).
GSM7_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED: Final = frozenset("^{}\\[~]|€\f")


def sms_parts(text: str) -> tuple[int, str]:
    """Parts charged for ``text`` and its encoding (``"GSM-7"`` or ``"UCS-2"``).

    GSM-7: 160 septets in one SMS, 153 per part when split; extension characters take
    two septets. Any other character forces UCS-2: 70 UTF-16 units, 67 per part.
    """
    if all(c in GSM7_BASIC or c in GSM7_EXTENDED for c in text):
        units = sum(2 if c in GSM7_EXTENDED else 1 for c in text)
        single, per_part, encoding = 160, 153, "GSM-7"
    else:
        units = len(text.encode("utf-16-le")) // 2
        single, per_part, encoding = 70, 67, "UCS-2"
    if units <= single:
        return 1, encoding
    return math.ceil(units / per_part), encoding


@dataclass
class Account:
    """One provider account, keyed by its API key."""

    api_key: str
    active: bool = True
    sender_ids: dict[str, str] = field(default_factory=dict)  # name -> "active"/"inactive"
    local_balance_sms: int = 10_000
    international_balance_tl: float = 1_000.0
    international_enabled: bool = False
    otp_enabled: bool = True  # OTP endpoint (a GET endpoint: refused with TS-1062)
    post_enabled: bool = True  # TS-1061
    get_enabled: bool = True  # TS-1062
    status_enabled: bool = True  # TS-1063
    balance_enabled: bool = True  # TS-1065
    per_minute_limit: int = 100  # TS-1060
    recent_sends: list[float] = field(default_factory=list, repr=False)  # monotonic times

    def sends_last_minute(self, now: float | None = None) -> int:
        now = time.monotonic() if now is None else now
        self.recent_sends = [t for t in self.recent_sends if now - t < 60.0]
        return len(self.recent_sends)

    def public(self) -> dict[str, Any]:
        """JSON view for the admin API, with the key masked."""
        data = dataclasses.asdict(self)
        data.pop("recent_sends")
        data["api_key"] = mask_key(self.api_key)
        data["total_has_sent_last_1_min"] = self.sends_last_minute()
        return data


EDITABLE_FIELDS: Final = frozenset(
    f.name for f in dataclasses.fields(Account) if f.name not in ("api_key", "recent_sends")
)


@dataclass
class InboxMessage:
    """A message the simulator accepted (what the phone would show)."""

    sms_id: int
    mobile: str
    text: str
    sender: str
    sent_at: str  # ISO 8601 with the provider's offset (+03:00)
    parts: int
    encoding: str
    kind: str  # "otp" or "sms"
    api_key: str = field(repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "sms_id": self.sms_id,
            "mobile": self.mobile,
            "text": self.text,
            "sender": self.sender,
            "sent_at": self.sent_at,
            "parts": self.parts,
            "encoding": self.encoding,
            "kind": self.kind,
            "account": mask_key(self.api_key),
        }


@dataclass
class Faults:
    """The fault switchboard. ``times=None`` means until cleared."""

    mode: str = "none"
    latency_ms: int = 0
    times: int | None = None

    def take(self) -> Faults:
        """The fault for the next provider request, counting it down."""
        current = Faults(self.mode, self.latency_ms, self.times)
        if self.mode != "none" and self.times is not None:
            self.times -= 1
            if self.times <= 0:
                self.mode, self.latency_ms, self.times = "none", 0, None
        return current


class _WithAccount(Protocol):
    def __call__(
        self, api_key: str, sender_id: str = "OTPSVC", **fields: Any
    ) -> SimulatorState: ...


class _HybridWithAccount:
    """``SimulatorState.with_account(...)`` builds a new state; ``state.with_account(...)``
    adds to that state. Both return the state, so calls chain."""

    def __get__(self, obj: SimulatorState | None, owner: type[SimulatorState]) -> _WithAccount:
        target = owner() if obj is None else obj
        return target.add_account


@dataclass
class SimulatorState:
    """Everything the simulator knows. ``reset()`` returns to the snapshot that
    ``create_simulator`` took (``mark_initial``)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    inbox: list[InboxMessage] = field(default_factory=list)  # oldest first
    sent: dict[int, InboxMessage] = field(default_factory=dict)  # survives inbox clears
    delivery_outcomes: dict[str, str] = field(default_factory=dict)  # mobile -> outcome
    faults: Faults = field(default_factory=Faults)
    account_faults: dict[str, Faults] = field(default_factory=dict)  # api key -> its own
    next_sms_id: int = 1000007721
    international_price_tl: float = 0.5  # per part
    provider_requests: int = 0  # requests that reached /api/v3 (faults included)
    next_otp_codes: list[str] = field(default_factory=list)  # test hook: codes to hand out next
    _initial: dict[str, Any] | None = field(default=None, repr=False, compare=False)

    with_account = _HybridWithAccount()

    def add_account(self, api_key: str, sender_id: str = "OTPSVC", **fields: Any) -> SimulatorState:
        """Add (or replace) an account with ``sender_id`` active; ``fields`` set the rest."""
        unknown = set(fields) - EDITABLE_FIELDS
        if unknown:
            raise TypeError(f"unknown account fields: {sorted(unknown)}")
        senders = dict(fields.pop("sender_ids", {}))
        if sender_id:
            senders.setdefault(sender_id, "active")
        self.accounts[api_key] = Account(api_key=api_key, sender_ids=senders, **fields)
        return self

    def faults_for(self, api_key: str | None) -> Faults:
        """The account's own fault switch when one is set, else the global one."""
        own = self.account_faults.get(api_key or "")
        return own if own is not None and own.mode != "none" else self.faults

    def new_sms_id(self) -> int:
        sms_id = self.next_sms_id
        self.next_sms_id += 1
        return sms_id

    def messages_for(self, mobile: str | None = None) -> list[InboxMessage]:
        """Inbox messages, newest first, optionally for one number."""
        return [m for m in reversed(self.inbox) if mobile is None or m.mobile == mobile]

    def _data(self) -> dict[str, Any]:
        return {
            f.name: copy.deepcopy(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if f.name != "_initial"
        }

    def mark_initial(self) -> None:
        """Remember the current state as the one ``reset()`` returns to."""
        self._initial = self._data()

    def reset(self) -> None:
        """Back to the initial snapshot, in place (holders of this object keep it)."""
        initial = self._initial if self._initial is not None else SimulatorState()._data()
        for name, value in initial.items():
            setattr(self, name, copy.deepcopy(value))


def mask_key(api_key: str) -> str:
    """How the balance answer echoes the key: never in clear."""
    return "*" * 8 + api_key[-4:] if len(api_key) >= 12 else "*" * 8
