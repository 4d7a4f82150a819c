"""Masking of phone numbers for logs and events (invariant 5: numbers are private)."""

from __future__ import annotations

import logging
import re

import phonenumbers

_VISIBLE_TAIL = 4
_VISIBLE_NATIONAL_HEAD = 3
# A run of 7+ digits, optionally with a leading + or 00, possibly split by single
# spaces or dashes: what a phone number looks like inside free text.
_NUMBER_IN_TEXT = re.compile(r"(?<![\w*])\+?\d(?:[ \-]?\d){6,}(?![\w*])")


def mask_number(number: str) -> str:
    """Mask a number for display: `+8613812345678` -> `+86138****5678`.

    Keeps the country code, the first three national digits and the last four.
    Anything that does not parse as E.164 keeps only its last two digits.
    """
    digits = re.sub(r"\D", "", number)
    if number.startswith("+"):
        try:
            cc = str(phonenumbers.parse(number, None).country_code)
        except phonenumbers.NumberParseException:
            cc = ""
        if cc and digits.startswith(cc):
            national = digits[len(cc):]
            head = national[:_VISIBLE_NATIONAL_HEAD]
            rest = national[_VISIBLE_NATIONAL_HEAD:]
            if len(rest) > _VISIBLE_TAIL:
                hidden = len(rest) - _VISIBLE_TAIL
                return f"+{cc}{head}{'*' * hidden}{rest[-_VISIBLE_TAIL:]}"
            return f"+{cc}{head}{'*' * len(rest)}"
    if len(digits) <= 2:
        return "*" * len(digits)
    return "*" * (len(digits) - 2) + digits[-2:]


def mask_numbers_in_text(text: str) -> str:
    """Replace every phone-number-like run of digits inside free text by its mask."""
    return _NUMBER_IN_TEXT.sub(lambda m: mask_number(re.sub(r"[ \-]", "", m.group(0))), text)


class MaskingFilter(logging.Filter):
    """A logging filter that masks phone numbers in every record's final message.

    A safety net under the explicit `mask_number` calls: even a careless log line
    never writes a plaintext number unless the operator asked for it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_numbers_in_text(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
