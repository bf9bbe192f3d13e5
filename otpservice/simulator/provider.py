"""The provider's rules: its checks in their documented order, its per-minute limit, the
balance it charges, and the inbox each delivered SMS lands in."""

from __future__ import annotations

import time

from .state import (
    Account,
    InboxMessage,
    SimulatorState,
    sms_parts,
)
from .wire import Refused, now_provider


class Provider:
    """The provider's checks in its documented order; raises ``Refused``."""

    def __init__(self, state: SimulatorState) -> None:
        self.state = state

    def account(self, params: dict[str, str]) -> Account:
        key = params.get("api_key", "")
        if not key:
            raise Refused("TS-1050")
        account = self.state.accounts.get(key)
        if account is None:
            raise Refused("TS-1031")
        if not account.active:
            raise Refused("TS-1030")
        return account

    def sender(self, account: Account, title: str) -> str:
        if not title:
            raise Refused("TS-1051")
        state = account.sender_ids.get(title)
        if state is None:
            raise Refused("TS-1029")
        if state != "active":
            raise Refused("TS-1028")
        return title

    def mobile(self, account: Account, mobile: str) -> str:
        if not mobile:
            raise Refused("TS-1025")
        if not mobile.isdigit():
            raise Refused("TS-1034")
        if mobile.startswith("90"):
            if len(mobile) != 12:
                raise Refused("TS-1034")
        elif mobile.startswith("0") or not 8 <= len(mobile) <= 15:
            raise Refused("TS-1034")
        elif not account.international_enabled:
            raise Refused("TS-1032")
        return mobile

    def deliver(
        self, account: Account, *, mobile: str, text: str, sender: str, kind: str
    ) -> tuple[InboxMessage, int]:
        """Rate limit, charge and store; returns the message and the last-minute count."""
        sent_recently = account.sends_last_minute()
        if sent_recently >= account.per_minute_limit:
            raise Refused("TS-1060")
        parts, encoding = sms_parts(text)
        if mobile.startswith("90"):
            if account.local_balance_sms < parts:
                raise Refused("TS-1027")
            account.local_balance_sms -= parts
        else:
            cost = round(parts * self.state.international_price_tl, 2)
            if account.international_balance_tl + 1e-9 < cost:
                raise Refused("TS-1027")
            account.international_balance_tl = round(account.international_balance_tl - cost, 2)
        account.recent_sends.append(_monotonic())
        message = InboxMessage(
            sms_id=self.state.new_sms_id(),
            mobile=mobile,
            text=text,
            sender=sender,
            sent_at=now_provider().isoformat(),
            parts=parts,
            encoding=encoding,
            kind=kind,
            api_key=account.api_key,
        )
        self.state.inbox.append(message)
        self.state.sent[message.sms_id] = message
        return message, sent_recently + 1


def _monotonic() -> float:
    return time.monotonic()
