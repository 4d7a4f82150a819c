"""Numbers are masked in logs and events (invariant 5)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dnc import MaskingFilter, mask_number, mask_numbers_in_text


@pytest.mark.parametrize(("number", "masked"), [
    ("+8613812345678", "+86138****5678"),
    ("+14155550123", "+1415***0123"),
    ("+442079460000", "+44207***0000"),
    ("12345", "***45"),
])
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


@given(st.from_regex(r"\+86 ?1[3-9]\d ?\d{4} ?\d{4}", fullmatch=True))
def test_no_full_number_survives_in_text(number: str) -> None:
    digits = number.replace(" ", "").lstrip("+")
    masked = mask_numbers_in_text(f"dialling {number} now")
    assert digits not in masked.replace(" ", "")
    assert masked.endswith(" now") and masked.startswith("dialling ")


def test_logging_filter_masks_args(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.masking")
    handler = logging.Handler()
    records: list[logging.LogRecord] = []
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(MaskingFilter())
    logger.addHandler(handler)
    try:
        logger.warning("call to %s failed", "+8613812345678")
    finally:
        logger.removeHandler(handler)
    assert records[0].getMessage() == "call to +86138****5678 failed"
