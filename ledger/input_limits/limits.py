"""The limits on what people give the ledger (see the package docstring)."""

from __future__ import annotations

MAX_LINE_BYTES = 1024 * 1024
"""Bytes in one line of an import file, without its line break (1 MiB)."""
MAX_LINES = 100_000
"""Lines in one import file (one import is one signed commit, checked whole in memory)."""
MAX_FILE_BYTES = 64 * 1024 * 1024
"""Bytes in one import file (64 MiB)."""
MAX_DOCUMENT_BYTES = MAX_LINE_BYTES
"""Bytes in a one-document JSON file (``--inputs``)."""
MAX_DEPTH = 32
"""Arrays and objects nested in one JSON document."""
MAX_VALUES = 1_000
"""Values (array items and object members) in one JSON document."""
MAX_DIGITS = 40
"""Digits in one number."""
MAX_DECIMAL_PLACES = 40
"""Digits after the decimal point of one number (``1E-41`` has 41)."""
MAX_MAGNITUDE = 40
"""Largest power of ten of one number's leading digit (``1E+41`` is refused)."""

NUMBER_RULE = (
    f"[INPUT-NUMBER] a number has at most {MAX_DIGITS} digits and {MAX_DECIMAL_PLACES} decimal "
    f"places, and lies between -1E+{MAX_MAGNITUDE + 1} and 1E+{MAX_MAGNITUDE + 1}"
)
