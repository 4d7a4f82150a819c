"""Hypothesis strategies: valid numbers and the many ways people write them."""

from __future__ import annotations

import phonenumbers
from hypothesis import assume
from hypothesis import strategies as st
from phonenumbers import PhoneNumber, PhoneNumberFormat, PhoneNumberType

REGIONS = ["CN", "HK", "US", "GB", "DE", "FR", "IT", "JP", "IN", "BR", "AU", "SG"]
# Regions whose international prefix is ambiguous: from Hong Kong, "00 86 …" may be read
# as the carrier prefix "008" then "6…" (a real ambiguity, not a parsing bug).
AMBIGUOUS_IDD = frozenset({"HK"})
_FULL_WIDTH = str.maketrans("0123456789+", "０１２３４５６７８９＋")


@st.composite
def valid_numbers(draw: st.DrawFn, regions: list[str] = REGIONS) -> PhoneNumber:
    """A valid number near a region's example number (its last four digits drawn)."""
    region = draw(st.sampled_from(regions))
    kind = draw(st.sampled_from([PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]))
    example = phonenumbers.example_number_for_type(region, kind)
    assume(example is not None)
    assert example is not None
    national = str(example.national_number)
    tail = draw(st.text("0123456789", min_size=4, max_size=4))
    lead = "0" * (example.number_of_leading_zeros or 0) if example.italian_leading_zero else ""
    number = phonenumbers.parse(f"+{example.country_code}{lead}{national[:-4]}{tail}")
    assume(phonenumbers.is_valid_number(number))
    return number


def e164(number: PhoneNumber) -> str:
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def base_forms(number: PhoneNumber, default_region: str) -> list[str]:
    """The standard written forms of `number` as seen from `default_region`."""
    forms = [
        e164(number),
        phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL),
        phonenumbers.format_number(number, PhoneNumberFormat.RFC3966),
    ]
    if default_region not in AMBIGUOUS_IDD:
        forms.append(phonenumbers.format_out_of_country_calling_number(number, default_region))
    if phonenumbers.region_code_for_number(number) == default_region:
        forms.append(phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL))
    return forms


@st.composite
def written_form(draw: st.DrawFn, form: str) -> str:
    """`form` rewritten as a person might: other separators, full-width digits, spaces."""
    separator = draw(st.sampled_from([" ", "-", ".", "", "  "]))
    text = form if form.startswith("tel:") else form.replace(" ", separator).replace("-", separator)
    if draw(st.booleans()):
        text = text.translate(_FULL_WIDTH)
    pad = draw(st.sampled_from(["", " ", "\t", "  "]))
    return f"{pad}{text}{pad[::-1]}"
