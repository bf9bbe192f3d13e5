"""Phone numbers: parsing with libphonenumber, masking, and the prefix used by pumping guards."""

from __future__ import annotations

import msgspec
import phonenumbers
from phonenumbers import PhoneNumberType

from otpservice.errors import InvalidPhone

_MOBILE_TYPES = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
MAX_PHONE_INPUT = 32


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
        """'+90532*****67': country code and three digits, then only the last two."""
        keep = 1 + len(str(self.country_code)) + 3
        hidden = len(self.e164) - keep - 2
        return self.e164[:keep] + "*" * max(hidden, 0) + self.e164[-2:]

    def prefix(self, drop_digits: int) -> str:
        """The number's E.164 digits but the last ``drop_digits``."""
        return self.digits[: max(len(self.digits) - drop_digits, 1)]


def parse_phone(raw: str, default_region: str) -> Phone:
    """Parse what a person typed into a valid mobile number, or raise InvalidPhone."""
    if not raw or len(raw) > MAX_PHONE_INPUT or not raw.isprintable():
        raise InvalidPhone("The phone number is empty, too long or contains control characters.")
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
        raise InvalidPhone("The phone number is not a mobile number.")
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    return Phone(e164=e164, region=region, country_code=int(number.country_code or 0))


def from_e164(e164: str) -> Phone:
    """A number we stored ourselves (already valid)."""
    number = phonenumbers.parse(e164, None)
    region = phonenumbers.region_code_for_number(number) or ""
    return Phone(e164=e164, region=region, country_code=int(number.country_code or 0))


def mask_e164(e164: str) -> str:
    """``Phone.masked`` of a number we stored ourselves, without parsing it again: calling
    codes are prefix-free, so the first of 1-3 leading digits that is one is the one."""
    for length in (1, 2, 3):
        code = int(e164[1 : 1 + length])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            return Phone(e164=e164, region="", country_code=code).masked
    return from_e164(e164).masked
