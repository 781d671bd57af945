"""Import files (JSON Lines) streamed within the limits, a line at a time."""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterator
from io import BufferedReader
from pathlib import Path

from ledger.errors import Excerpt, UsageError, ValidationError, Verbatim
from ledger.input_limits.documents import JSON_STRING, binary_refusal, decode_text
from ledger.input_limits.limits import MAX_FILE_BYTES, MAX_LINE_BYTES, MAX_LINES

_STRING_OR_KEY = re.compile(rf"({JSON_STRING})(\s*:)?")
_CHUNK = 1024 * 1024
_SNIFF_BYTES = 8192


class ImportFileRefused(ValidationError):
    """An import file refused as a whole by a limit or its encoding, at one line; it was not
    read further and nothing of it was written."""

    def __init__(self, source: str, line: int | None, field: str, value: object, rule: str) -> None:
        super().__init__(field, value, rule)
        self.source = source
        self.line = line
        where = f"line {line}: " if line is not None else ""
        self.args = (f"import of {source} refused, nothing written: {where}{self.args[0]}",)


def read_import_lines(path: Path) -> Iterator[str]:
    """The lines of an import file as text, streamed (a FIFO or a device is read as it comes,
    never more than one line and :data:`MAX_LINE_BYTES` at a time). Every line is yielded,
    blank ones too, so that counting them gives line numbers. The file is opened at the first
    line asked for; a file beyond a limit is refused (:class:`ImportFileRefused`) at the first
    line that exceeds it."""
    source = str(path)
    try:
        handle = path.open("rb")
    except OSError as e:
        raise UsageError(f"import file {path}: {e.strerror or e}") from None
    with handle:
        size = _regular_size(handle.fileno())
        if size is not None and size > MAX_FILE_BYTES:
            raise _file_too_big(source, None, f"{size:,} bytes")
        total = 0
        number = 0
        while True:
            try:
                raw = handle.readline(MAX_LINE_BYTES + 1)
            except OSError as e:
                raise UsageError(f"import file {path}: {e.strerror or e}") from None
            if not raw:
                return
            number += 1
            total += len(raw)
            if number > MAX_LINES:
                raise ImportFileRefused(
                    source,
                    number,
                    "lines",
                    Verbatim(f"over {MAX_LINES:,}"),
                    f"[IMPORT-LINES] an import file holds at most {MAX_LINES:,} lines; split it",
                )
            too_long = len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n")
            if too_long and b"\x00" not in raw:  # (binary data is refused as such, below)
                raise _line_too_long(source, number, raw, handle, total)
            if total > MAX_FILE_BYTES:
                raise _file_too_big(source, number, f"over {MAX_FILE_BYTES:,} bytes")
            yield _line_text(source, number, raw, handle).rstrip("\n").removesuffix("\r")


def _file_too_big(source: str, line: int | None, size: str) -> ImportFileRefused:
    return ImportFileRefused(
        source,
        line,
        "file",
        Verbatim(size),
        f"[IMPORT-FILE-SIZE] an import file holds at most {MAX_FILE_BYTES:,} bytes "
        "(64 MiB); split it",
    )


def _line_text(source: str, number: int, raw: bytes, handle: BufferedReader) -> str:
    """Line ``number`` as text, or the refusal of the file at it (binary data, encoding)."""
    try:
        if number == 1:  # a binary file is refused as such, not as bad UTF-8
            nul = (raw + handle.peek(_SNIFF_BYTES)[:_SNIFF_BYTES]).find(b"\x00")
            if nul >= 0:
                raise binary_refusal("line", f"NUL byte at byte {nul + 1} of the file")
        text = decode_text(raw, "line", first=number == 1)
    except ValidationError as e:
        raise ImportFileRefused(source, number, e.field, e.value, e.rule) from None
    return text


def _regular_size(fd: int) -> int | None:
    try:
        info = os.fstat(fd)
    except OSError:  # pragma: no cover - fstat of an open descriptor
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


def _line_too_long(
    source: str, number: int, head: bytes, handle: BufferedReader, total: int
) -> ImportFileRefused:
    """The refusal of a line over :data:`MAX_LINE_BYTES`: its size (read on, in chunks, up to
    the file's limit, to tell it) and the field whose value was being read when the limit was
    reached, with the start of that value."""
    length = len(head)
    ended = False
    while not ended and total <= MAX_FILE_BYTES:
        try:
            chunk = handle.readline(_CHUNK)
        except OSError:
            break
        if not chunk:
            ended = True
            break
        length += len(chunk)
        total += len(chunk)
        ended = chunk.endswith(b"\n")
    size = f"{length:,} bytes" if ended else f"over {length:,} bytes"
    text = head[:MAX_LINE_BYTES].decode("utf-8", "replace")
    field, value_at = "line", 0
    for match in _STRING_OR_KEY.finditer(text):
        if match.group(2):
            field, value_at = match.group(1)[1:-1], match.end()
    value = text[value_at:].lstrip()
    if field != "line":
        value = value.removeprefix('"')
    return ImportFileRefused(
        source,
        number,
        field,
        Excerpt(value, f"the line has {size}"),
        f"[IMPORT-LINE-SIZE] a line holds at most {MAX_LINE_BYTES:,} bytes (1 MiB)",
    )
