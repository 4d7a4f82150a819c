"""Normalisation: written forms -> E.164, rejections with a reason, time zones."""

from __future__ import annotations

import pytest
from dnc_strategies import REGIONS, base_forms, e164, valid_numbers, written_form
from hypothesis import given
from hypothesis import strategies as st

from dnc import Normalized, RejectReason, is_known_region, normalize, time_zones

CN_MOBILE = "+8613812345678"


@pytest.mark.parametrize("raw", [
    "+8613812345678",
    "+86 138-1234-5678",
    "+86 (138) 1234 5678",
    "(0086) 138 1234 5678",
    "0086 13812345678",
    "138 1234 5678",
    "138.1234.5678",
    "0138 1234 5678",
    "8613812345678",
    "１３８１２３４５６７８",
    "＋８６ １３８ １２３４ ５６７８",
    "tel:+86-138-1234-5678",
    "  +86 138 1234 5678\t",
])
def test_written_forms_of_a_chinese_mobile(raw: str) -> None:
    result = normalize(raw, "CN")
    assert result.ok and result.e164 == CN_MOBILE and result.region == "CN"
    assert result.reason is None


@pytest.mark.parametrize(("raw", "region", "e164_"), [
    ("010 1234 5678", "CN", "+861012345678"),          # national trunk prefix
    ("+86 10 1234 5678", None, "+861012345678"),
    ("(650) 253-0000", "US", "+16502530000"),
    ("011 86 138 1234 5678", "US", CN_MOBILE),         # the US international prefix
    ("00 1 650 253 0000", "CN", "+16502530000"),
    ("020 7946 0018", "GB", "+442079460018"),
])
def test_regions_and_prefixes(raw: str, region: str | None, e164_: str) -> None:
    assert normalize(raw, region).e164 == e164_


@pytest.mark.parametrize(("raw", "region", "reason"), [
    ("", "CN", RejectReason.EMPTY),
    ("  \t ", "CN", RejectReason.EMPTY),
    ("abc", "CN", RejectReason.NOT_A_NUMBER),
    ("12", "CN", RejectReason.TOO_SHORT),
    ("+86 1381234567800000", None, RejectReason.TOO_LONG),
    ("1" * 300, "CN", RejectReason.TOO_LONG),
    ("+999 1234567", None, RejectReason.INVALID_COUNTRY_CODE),
    ("138 1234 5678", None, RejectReason.NO_REGION),
    ("253 0000", "US", RejectReason.LOCAL_ONLY),
    ("+1 212 155 0123", None, RejectReason.INVALID),
    ("+86 100 0000 0000", None, RejectReason.INVALID),
])
def test_rejections_carry_a_reason(raw: str, region: str | None, reason: RejectReason) -> None:
    result = normalize(raw, region)
    assert not result.ok and result.e164 is None and result.reason is reason


def test_unknown_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="unknown default region"):
        normalize("138 1234 5678", "XX")
    assert is_known_region("cn") and not is_known_region("XX")


def test_repr_masks_the_number() -> None:
    text = repr(normalize("+86 138 1234 5678"))
    assert "13812345678" not in text and "+86138****5678" in text
    assert repr(Normalized(None, None, RejectReason.EMPTY)) == "Normalized(rejected=empty)"


def test_time_zones() -> None:
    assert time_zones(CN_MOBILE) == ("Asia/Shanghai",)
    assert time_zones("+12125550123") == ("America/New_York",)
    assert len(time_zones("+18002530000")) > 5        # toll-free: the whole NANP
    assert time_zones("+80012345678") == ()            # international freephone: unknown
    assert time_zones("not a number") == ()


@given(number=valid_numbers(), default=st.sampled_from(REGIONS), data=st.data())
def test_every_written_form_normalises_to_the_same_e164(number, default, data) -> None:  # type: ignore[no-untyped-def]
    expected = e164(number)
    for form in base_forms(number, default):
        written = data.draw(written_form(form))
        assert normalize(written, default).e164 == expected, (form, written)
