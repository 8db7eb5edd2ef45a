"""Conversion: DSA-110 subband UVH5 groups to Measurement Sets, and the streaming converter."""

from .uvh5_to_ms import ConversionResult, convert_group, phase_to_meridian, read_group

__all__ = ["ConversionResult", "convert_group", "phase_to_meridian", "read_group"]
