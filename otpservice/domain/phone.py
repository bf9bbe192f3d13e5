"""Phone numbers: parsing with libphonenumber, masking, and the prefix used by pumping guards.

One mask everywhere (API, logs, events, provider call logs): the E.164 number with its last
``max(4, prefix_drop_digits)`` digits as ``*``, e.g. ``+90545123****``. The pumping guards log
and record the number prefix (the digits but the last ``prefix_drop_digits``) beside the masked
number, so the mask must hide at least what the prefix drops: together they reveal nothing more
than the mask alone.
"""

from __future__ import annotations

import functools
import unicodedata

import msgspec
import phonenumbers
from phonenumbers import PhoneNumberType

from otpservice.errors import InvalidPhone, NotMobile

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
MAX_PHONE_INPUT = 32
MIN_MASKED_DIGITS = 4
_masked_digits = MIN_MASKED_DIGITS
_prefix_drop_digits = MIN_MASKED_DIGITS


def configure_masking(prefix_drop_digits: int) -> None:
    """Hide the last ``max(4, prefix_drop_digits)`` digits from now on (set once at start-up)."""
    global _masked_digits, _prefix_drop_digits
    _masked_digits = max(MIN_MASKED_DIGITS, prefix_drop_digits)
    _prefix_drop_digits = prefix_drop_digits


def mask_prefix(prefix: str) -> str:
    """A number prefix as a log line or an event may show it: with OTP_PREFIX_DROP_DIGITS
    under 4 the prefix is longer than the mask's visible part, so its surplus is starred."""
    surplus = min(max(_masked_digits - _prefix_drop_digits, 0), len(prefix))
    return prefix[: len(prefix) - surplus] + "*" * surplus


def mask_digits(digits: str) -> str:
    """A run of digits with its last ``max(4, prefix_drop_digits)`` as ``*``; a run no longer
    than that is all stars."""
    hidden = min(_masked_digits, len(digits))
    return digits[: len(digits) - hidden] + "*" * hidden


# What people type in a phone number besides digits (with their full-width forms, from East
# Asian keyboards). libphonenumber would also read letters (vanity numbers), extensions and
# stray symbols, extracting whatever digits it finds.
_PHONE_PUNCTUATION = frozenset(" +-.()＋－．（）")


def _typed_as_phone(raw: str) -> bool:
    """Only digits (of any script), spaces, and ``+ - . ( )``."""
    return all(
        ch in _PHONE_PUNCTUATION or ch.isdecimal() or unicodedata.category(ch) == "Zs" for ch in raw
    )


class Phone(msgspec.Struct, frozen=True):
    e164: str  # "+905321234567"
    region: str  # "TR"
    country_code: int  # 90

    @property
    def digits(self) -> str:
        """E.164 without '+', as the provider wants it."""
        return self.e164[1:]

    @property
    def masked(self) -> str:
        """'+90545123****': the number with its last digits hidden (see the module docstring)."""
        return mask_e164(self.e164)

    def prefix(self, drop_digits: int) -> str:
        """The number's E.164 digits but the last ``drop_digits``."""
        return self.digits[: max(len(self.digits) - drop_digits, 1)]


# Parses of recent inputs: a Phone is immutable, and libphonenumber's parse and type lookup
# are most of a refused send's own work (bench/NOTES.md). Bounded, least recently used out;
# inputs that fail are not kept (an exception is raised anew each time).
PARSE_CACHE_SIZE = 4096


@functools.lru_cache(maxsize=PARSE_CACHE_SIZE)
def parse_phone(raw: str, default_region: str) -> Phone:
    """Parse what a person typed into a valid mobile number, or raise InvalidPhone."""
    if not raw or len(raw) > MAX_PHONE_INPUT or not raw.isprintable():
        raise InvalidPhone("The phone number is empty, too long or contains control characters.")
    if not _typed_as_phone(raw):
        raise InvalidPhone(
            "The phone number may contain only digits, spaces and the characters + - . ( )."
        )
    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone("The phone number could not be parsed.") from exc
    region = phonenumbers.region_code_for_number(number) or ""
    # One type lookup instead of is_valid_number's and number_type's two (it is most of the
    # parse): a number whose region is known and whose type is not UNKNOWN is valid.
    kind = phonenumbers.number_type(number) if region else PhoneNumberType.UNKNOWN
    if kind == PhoneNumberType.UNKNOWN:
        raise InvalidPhone("The phone number is not a valid number.")
    if kind not in _MOBILE_TYPES:
        raise NotMobile("The phone number is not a mobile number.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164=e164, region=region, country_code=int(number.country_code or 0))


def from_e164(e164: str) -> Phone:
    """A number we stored ourselves (already valid)."""
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number) or ""
    return Phone(e164=e164, region=region, country_code=int(number.country_code or 0))


def mask_e164(e164: str) -> str:
    """``Phone.masked`` of a number we stored ourselves, without parsing it again."""
    return "+" + mask_digits(e164[1:]) if e164.startswith("+") else mask_digits(e164)
