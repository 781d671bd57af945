"""SAS V5 transport numbers: IBM System/370 doubles, decoded here independently of the writer
(sign bit, 7-bit excess-64 base-16 exponent, 56-bit fraction)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.exports.sdtm.writer import DatasetInvalid
from projections.exports.sdtm.xpt import MISSING, ibm_double


def decode_ibm(raw: bytes) -> float:
    sign = -1.0 if raw[0] & 0x80 else 1.0
    exponent = (raw[0] & 0x7F) - 64
    fraction = int.from_bytes(raw[1:], "big") / 2**56
    return sign * fraction * 16.0**exponent


@given(st.floats(min_value=-1e70, max_value=1e70, allow_nan=False, allow_infinity=False))
def test_every_double_in_range_round_trips_exactly(value: float) -> None:
    assume_normal = value == 0 or abs(value) > 1e-70
    if assume_normal:
        raw = ibm_double(value)
        assert len(raw) == 8
        assert decode_ibm(raw) == value


def test_known_values_have_their_published_bytes() -> None:
    assert ibm_double(1.0) == bytes.fromhex("4110000000000000")
    assert ibm_double(-118.625) == bytes.fromhex("C276A00000000000")
    assert ibm_double(0.0) == bytes(8)


def test_a_missing_number_is_sas_missing_dot() -> None:
    assert ibm_double(None) == MISSING
    assert ibm_double(math.nan) == MISSING


def test_an_infinite_number_is_refused() -> None:
    with pytest.raises(DatasetInvalid, match="cannot be written in SAS V5 transport"):
        ibm_double(math.inf)
