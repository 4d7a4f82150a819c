"""Do-not-call: number normalisation and masking, the registry, its index, refusals."""

from dnc.masking import MaskingFilter, mask_number, mask_numbers_in_text

__all__ = ["MaskingFilter", "mask_number", "mask_numbers_in_text"]
