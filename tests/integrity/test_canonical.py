"""RFC 8785 canonical JSON: published vectors, agreement with the reference, refusals."""

from __future__ import annotations

import enum
import json
from pathlib import Path

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from ledger.errors import CanonicalEncodingError
from ledger.integrity.canonical import canonical_json

# cyberphone/json-canonicalization testdata, vendored (origin and licence: tests/vectors/README.md).
JCS_VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "rfc8785"
VECTOR_NAMES = sorted(path.name for path in (JCS_VECTORS / "input").glob("*.json"))
if not VECTOR_NAMES:  # a missing or empty folder fails collection (never a skip)
    pytest.fail(f"no RFC 8785 vectors in {JCS_VECTORS / 'input'}", pytrace=False)
LIMIT = 2**53 - 1

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-LIMIT, max_value=LIMIT)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)
float_free_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-LIMIT, max_value=LIMIT) | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=8), children, max_size=5)
    ),
    max_leaves=30,
)


def test_vector_directory_holds_the_published_pairs() -> None:
    assert len(VECTOR_NAMES) >= 6
    assert sorted(p.name for p in (JCS_VECTORS / "output").glob("*.json")) == VECTOR_NAMES


@pytest.mark.parametrize("name", VECTOR_NAMES)
def test_matches_published_rfc8785_vector_bytes(name: str) -> None:
    value = json.loads((JCS_VECTORS / "input" / name).read_text(encoding="utf-8"))
    assert canonical_json(value) == (JCS_VECTORS / "output" / name).read_bytes()


@given(json_values)
def test_agrees_with_reference_implementation_on_any_json_value(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


@given(float_free_values)
def test_fast_path_agrees_with_reference_on_float_free_values(value: object) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)  # type: ignore[arg-type]


def _parse_int_like_ecmascript(text: str) -> int | float:
    # JCS prints a double such as 2.0**53 as "9007199254740992"; json.loads would make that an
    # int outside the I-JSON range (refused), whereas a JCS consumer reads every number as a double.
    number = int(text)
    return number if -LIMIT <= number <= LIMIT else float(number)


@given(json_values)
def test_canonicalising_parsed_canonical_output_is_idempotent(value: object) -> None:
    once = canonical_json(value)
    assert canonical_json(json.loads(once, parse_int=_parse_int_like_ecmascript)) == once


def test_large_integral_float_prints_as_integer_that_json_loads_reads_as_int() -> None:
    assert canonical_json(2.0**53) == b"9007199254740992"
    with pytest.raises(CanonicalEncodingError, match="integer outside the I-JSON range"):
        canonical_json(json.loads(canonical_json(2.0**53)))


def test_sorts_keys_by_utf16_code_units_not_code_points() -> None:
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, which sorts before U+FB33.
    expected = '{"\U0001f600":2,"\ufb33":1}'.encode()
    assert canonical_json({"\ufb33": 1, "\U0001f600": 2}) == expected


class Arm(enum.IntEnum):
    PLACEBO = 0
    ACTIVE = 1


def test_accepts_tuples_and_int_subclasses_like_the_reference() -> None:
    value = (True, Arm.ACTIVE, "a", {"arm": Arm.PLACEBO})
    assert canonical_json(value) == rfc8785.dumps(value) == b'[true,1,"a",{"arm":0}]'


def test_accepts_integers_at_the_ijson_limits() -> None:
    assert canonical_json([LIMIT, -LIMIT]) == b"[9007199254740991,-9007199254740991]"


def test_rejects_nan_naming_its_path() -> None:
    with pytest.raises(CanonicalEncodingError, match=r'at \$\["a"\]\[1\]: NaN.*found nan'):
        canonical_json({"a": [0, float("nan")]})


def test_rejects_infinity() -> None:
    with pytest.raises(CanonicalEncodingError, match=r"at \$\[0\]: NaN and infinities.*found inf"):
        canonical_json([float("inf")])


def test_rejects_integer_beyond_two_to_the_53() -> None:
    with pytest.raises(
        CanonicalEncodingError, match=r"at \$\[\"n\"\]: integer outside.*9007199254740992"
    ):
        canonical_json({"n": 2**53})


def test_rejects_non_string_key() -> None:
    with pytest.raises(
        CanonicalEncodingError, match=r"at \$\[\"x\"\]: object keys must be str; found 1"
    ):
        canonical_json({"x": {1: "one"}})


def test_rejects_lone_surrogate_in_value() -> None:
    with pytest.raises(CanonicalEncodingError, match=r"at \$\[\"s\"\]\[0\].*lone surrogate"):
        canonical_json({"s": ["\ud800"]})


def test_rejects_lone_surrogate_in_key() -> None:
    with pytest.raises(
        CanonicalEncodingError, match=r"at \$ \(a key\).*lone surrogate in 'k\\udc00'"
    ):
        canonical_json({"k\udc00": 1})


def test_rejects_lone_surrogate_on_the_reference_path() -> None:
    with pytest.raises(CanonicalEncodingError, match=r"at \$\[\"f\"\].*lone surrogate"):
        canonical_json({"f": "\udfff", "g": 1.5})


def test_rejects_unsupported_type() -> None:
    with pytest.raises(
        CanonicalEncodingError, match=r"at \$\[\"b\"\]: type bytes has no JSON form"
    ):
        canonical_json({"b": b"raw"})


def test_rejects_circular_value() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(CanonicalEncodingError, match="nests too deeply or is circular"):
        canonical_json(loop)
