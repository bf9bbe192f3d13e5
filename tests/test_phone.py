"""Phone parsing with libphonenumber: one number however it is typed; anything else refused."""

from __future__ import annotations

from collections.abc import Iterator

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from otpservice.domain.phone import (
    configure_masking,
    from_e164,
    mask_e164,
    mask_prefix,
    parse_phone,
)
from otpservice.errors import InvalidPhone


@pytest.mark.parametrize(
    "typed", ["05321234567", "905321234567", "+90 532 123 45 67", "+905321234567", "0532 123 4567"]
)
def test_turkish_forms_are_one_number(typed: str) -> None:
    phone = parse_phone(typed, "TR")
    assert phone.e164 == "+905321234567"
    assert phone.region == "TR"
    assert phone.digits == "905321234567"


@pytest.fixture
def drop_digits() -> Iterator[None]:
    yield
    configure_masking(4)  # the default, for the tests that follow


def test_mask_hides_the_last_four_digits_by_default() -> None:
    assert parse_phone("+905451234567", "TR").masked == "+90545123****"


@pytest.mark.parametrize(("drop", "masked"), [(2, "+90545123****"), (6, "+905451******")])
def test_mask_hides_at_least_the_digits_the_prefix_drops(
    drop_digits: None, drop: int, masked: str
) -> None:
    configure_masking(drop)
    assert parse_phone("+905451234567", "TR").masked == masked


@pytest.mark.parametrize("drop", [1, 2, 3, 4, 5, 8])
def test_a_prefix_shown_beside_the_mask_reveals_nothing_more(drop_digits: None, drop: int) -> None:
    configure_masking(drop)
    phone = parse_phone("+905451234567", "TR")
    visible_in_mask = phone.masked.rstrip("*")[1:]
    shown = mask_prefix(phone.prefix(drop)).rstrip("*")
    assert len(shown) <= len(visible_in_mask)
    assert visible_in_mask.startswith(shown)


def test_prefix_drops_the_last_digits() -> None:
    assert parse_phone("+905321234567", "TR").prefix(4) == "90532123"


@pytest.mark.parametrize(
    "typed",
    ["", "123", "+90 212 123 45 67", "0532\x001234567", "+1" + "9" * 40, "not a number", "٠٥٣٢"],
)
def test_invalid_or_non_mobile_numbers_are_refused(typed: str) -> None:
    with pytest.raises(InvalidPhone):
        parse_phone(typed, "TR")


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=40))
def test_parsing_any_text_either_succeeds_with_e164_or_raises_invalid_phone(raw: str) -> None:
    try:
        phone = parse_phone(raw, "TR")
    except InvalidPhone:
        return
    assert phone.e164.startswith("+") and phone.e164[1:].isdigit()
    assert parse_phone(phone.e164, "TR") == phone


def test_masking_a_stored_number_agrees_with_parsing_it_for_every_region() -> None:
    checked = 0
    for code, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        for region in regions:
            example = phonenumbers.example_number_for_type(
                region, phonenumbers.PhoneNumberType.MOBILE
            )
            if example is None:
                continue
            e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
            assert mask_e164(e164) == from_e164(e164).masked, (code, e164)
            checked += 1
    assert checked > 200
    assert mask_e164("+905321234567") == "+90532123****"


def test_parses_are_cached_and_bounded_and_failures_are_not_kept() -> None:
    from otpservice.domain.phone import PARSE_CACHE_SIZE

    first = parse_phone("0532 123 45 67", "TR")
    assert parse_phone("0532 123 45 67", "TR") is first  # the same immutable Phone
    assert parse_phone.cache_info().maxsize == PARSE_CACHE_SIZE
    for _ in range(2):  # raised anew each time: an invalid input is never remembered as valid
        with pytest.raises(InvalidPhone):
            parse_phone("+90 212 000", "TR")
    before = parse_phone.cache_info().currsize
    with pytest.raises(InvalidPhone):
        parse_phone("+90 212 000 0", "TR")
    assert parse_phone.cache_info().currsize == before
