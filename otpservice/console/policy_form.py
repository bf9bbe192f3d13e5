"""The runtime policy editor: every variable runtime administration may set (policy/), its
value and source, and a change validated field by field as the environment would be."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from otpservice.config import ConfigError
from otpservice.errors import InvalidPolicy, InvalidRequest
from otpservice.policy.runtime import UNSHOWN
from otpservice.policy.variables import with_overrides

POLICY_GROUPS = ("budgets", "lists", "fraud guard", "delays")
POLICY_CHOICES = {"OTP_GUARD_MODE": ("", "off", "monitor", "enforce")}


class PolicyField(msgspec.Struct, frozen=True):
    name: str  # the OTP_* variable
    group: str
    value: str  # "" with a placeholder when the built-in default (or hidden) applies
    source: str  # runtime | environment | default
    choices: tuple[str, ...] = ()
    hidden: bool = False  # set, but never shown (it may hold full phone numbers)
    error: str = ""


async def policy_fields(policy: Any) -> tuple[list[PolicyField], str]:
    """Every variable the runtime policy may set, with its value and where it is from."""
    if policy is None:
        return [], "Runtime administration is not part of this build."
    await policy.refresh()
    fields = []
    for v in policy.variables():
        hidden = v.name in UNSHOWN and v.value is not None
        fields.append(
            PolicyField(
                name=v.name,
                group=_policy_group(v.name),
                value="" if hidden or v.value is None else v.value,
                source=v.source,
                choices=POLICY_CHOICES.get(v.name, ()),
                hidden=hidden,
            )
        )
    fields.sort(key=lambda f: (POLICY_GROUPS.index(f.group), f.name))
    return fields, ""


async def change_policy(
    policy: Any, admin: str, form: dict[str, str]
) -> tuple[dict[str, str], list[str]]:
    """Apply what the editor changed: (errors by variable, variables changed). Each value
    is validated as the environment would be; with any error nothing is changed."""
    if policy is None:
        raise InvalidRequest("Runtime administration is not part of this build.")
    current, _ = await policy_fields(policy)
    set_: dict[str, str] = {}
    reset: list[str] = []
    for f in current:
        if f.name not in form:
            continue
        value = form[f.name].strip()
        if value == f.value:
            continue
        if value:
            set_[f.name] = value
        elif f.source == "runtime" and not f.hidden:
            reset.append(f.name)  # emptied: back to the environment's value
    errors: dict[str, str] = {}
    for name, value in set_.items():
        try:
            with_overrides(policy.base, {**policy.overrides, name: value})
        except ConfigError as exc:
            errors[name] = str(exc)
    if errors:
        return errors, []
    if not set_ and not reset:
        return {}, []
    try:
        await policy.change(admin, set_, reset)
    except InvalidPolicy as exc:
        named = re.search(r"OTP_[A-Z0-9_]+", exc.detail)
        key = named.group(0) if named and named.group(0) in form else next(iter(set_ or reset))
        return {key: exc.detail}, []
    return {}, sorted([*set_, *reset])


def _policy_group(name: str) -> str:
    if name.startswith("OTP_GUARD_SAFE") or name in {
        "OTP_ALLOWED_COUNTRIES",
        "OTP_PREFIX_ALLOW",
        "OTP_PREFIX_DENY",
    }:
        return "lists"
    if name.startswith("OTP_GUARD_"):
        return "fraud guard"
    if name.startswith(("OTP_CHECK_", "OTP_PREFIX_B", "OTP_RESEND_")):
        return "delays"
    return "budgets"
