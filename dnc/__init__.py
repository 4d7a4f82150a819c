"""Do-not-call: number normalisation and masking, the registry, its index, refusals."""

from dnc.hashing import DIGEST_BYTES, NumberHasher
from dnc.masking import MaskingFilter, mask_number, mask_numbers_in_text

__all__ = ["DIGEST_BYTES", "MaskingFilter", "NumberHasher", "mask_number", "mask_numbers_in_text"]
