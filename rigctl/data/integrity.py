"""Per-row integrity of the CSV files: a CRC-32 column, and a reader that keeps every intact row.

Why a checksum column (and not framing or a side file): the files stay plain CSV that pandas,
R and spreadsheets open as they are (one more column, ``crc``), each row carries its own proof,
so one damaged byte costs exactly the row it is in, and a torn append is told from a damaged
row without any other file. The checksum is the CRC-32 (``zlib.crc32``, as in zip and PNG) of
the row's bytes up to, not including, the comma before it, written as 8 lowercase hex digits.
CRC-32 detects every error burst up to 32 bits, so a flipped, inserted or deleted byte in a row
is always caught (longer damage slips through with probability 2^-32).

Sessions written before the column existed (format 1 and 2) are read row by row too: a row
whose field count or numbers do not parse is reported as damaged and the others load; a
changed digit in such a row cannot be detected (there is nothing to check it against).
"""

from __future__ import annotations

import csv
import io
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CRC_COLUMN = "crc"


@dataclass(frozen=True)
class Damage:
    """One damaged part of a session: the file, where in it (1-based line of a CSV file, or a
    description such as ``samples 1024-2047``), and what was wrong."""

    file: str
    line: int | None
    what: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else ""
        return f"{self.file}: {where + ': ' if where else ''}{self.what}"

    def as_dict(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "what": self.what}

    @classmethod
    def from_dict(cls, d: object) -> Damage | None:
        if not isinstance(d, dict):
            return None
        line = d.get("line")
        return cls(str(d.get("file", "?")), line if isinstance(line, int) else None,
                   str(d.get("what", "")))


class RowFormatter:
    """Formats one CSV row with its checksum cell, the way :func:`read_rows` checks it.

    Text cells never contain a line break (the writer replaces them by spaces): a row is
    exactly one line, so a damaged line can never swallow its neighbours.
    """

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._csv = csv.writer(self._buf, lineterminator="")

    def line(self, cells: Sequence[str]) -> str:
        buf = self._buf
        buf.seek(0)
        buf.truncate()
        self._csv.writerow([c if "\n" not in c and "\r" not in c else " ".join(c.splitlines())
                            for c in cells])
        body = buf.getvalue()
        return f"{body},{zlib.crc32(body.encode('utf-8')):08x}\n"


def _cells(text: str) -> list[str]:
    if '"' not in text:
        return text.split(",")
    try:
        return next(csv.reader([text]))
    except (csv.Error, StopIteration):
        return []


_HEX = frozenset(b"0123456789abcdef")


def _verifies(seg: bytes) -> bool:
    cut = len(seg) - 9
    return (cut >= 0 and seg[cut] == 0x2C and all(b in _HEX for b in seg[cut + 1:])
            and int(seg[cut + 1:], 16) == zlib.crc32(seg[:cut]))


def salvage(line: bytes) -> list[bytes]:
    """The intact rows inside a line that fails its checksum, left to right.

    A lost or flipped line end merges two rows into one line, and bytes inserted before or
    after a row leave the row itself whole: every segment that ends in ``,<crc>`` matching the
    bytes before it is a row as written (a false match has odds of about 2^-32 per try).
    """
    ends = [e for e in range(9, len(line) + 1)
            if line[e - 9] == 0x2C and all(b in _HEX for b in line[e - 8:e])]
    out: list[bytes] = []
    pos = 0
    for e in ends:
        if e - 9 < pos:
            continue
        want = int(line[e - 8:e], 16)
        for start in range(pos, e - 9):
            if zlib.crc32(line[start:e - 9]) == want:
                out.append(line[start:e])
                pos = e
                break
    return out


@dataclass
class Rows:
    """What :func:`read_rows` found: the columns, the intact rows with their line numbers,
    the damaged lines, and whether the last line was torn (no line end and not intact)."""

    columns: list[str]
    lines: list[int]
    damage: list[Damage]
    torn_bytes: int = 0
    checked: bool = False
    raw: list[bytes] | None = None  # each kept row's bytes as written (without the line end)

    @property
    def rows(self) -> list[list[str]]:
        """The kept rows' cells (without the checksum), split from ``raw`` when asked: a
        10-hour session's event log is ~100 k rows, whose cells as Python strings would cost
        ~45 MB that the loader's fast path (pandas' C reader on ``raw``) never needs."""
        cut = -1 if self.checked else None
        return [_cells(r.decode("utf-8").rstrip("\r"))[:cut] for r in self.raw or []]


def read_rows(path: Path, headers: Sequence[Sequence[str]], fallback: Sequence[str]) -> Rows:
    """Every intact row of the CSV file at ``path``.

    ``headers`` are the header lines a rigctl version may have written (with or without the
    ``crc`` column); a header that is none of them is reported as damaged and ``fallback`` is
    assumed. A row whose checksum (when the file has the column) or field count is wrong is
    reported with its line number; a last line without a line end that is not intact is
    reported as ``torn_bytes`` (the process died while appending it), not as damage.
    """
    name = path.name
    data = path.read_bytes()
    raw = data.split(b"\n")
    last = raw.pop()  # b"" when the file ends with a line end
    damage: list[Damage] = []
    if not raw and not last:
        return Rows(list(fallback), [], damage)
    head = raw[0] if raw else last
    head_text = head.decode("utf-8", errors="replace").rstrip("\r")
    columns = _cells(head_text)
    if columns not in [list(h) for h in headers]:
        damage.append(Damage(name, 1, f"header damaged ({head_text[:60]!r}); assumed the "
                                      f"columns {','.join(fallback)}"))
        columns = list(fallback)
    checked = bool(columns) and columns[-1] == CRC_COLUMN
    width = len(columns)
    lines: list[int] = []
    raws: list[bytes] = []
    torn = 0
    body = raw[1:] if raw else []
    n_body = len(body)
    if raw and last:
        body.append(last)

    def parse(seg: bytes) -> tuple[list[str], str]:
        try:
            text = seg.decode("utf-8")
        except UnicodeDecodeError:
            return [], "not UTF-8 text"
        cells = _cells(text.rstrip("\r"))
        if not seg:
            return [], "empty line"
        if len(cells) != width:
            return [], f"{len(cells)} fields, expected {width}"
        return cells, ""

    if damage and checked and head:  # a damaged header may have swallowed the first row
        for seg in salvage(head):
            _, problem = parse(seg)
            if not problem:
                lines.append(1)
                raws.append(seg)
    for i, line in enumerate(body):
        lineno = i + 2
        is_last_unended = i == n_body
        if is_last_unended and not checked:  # cannot be told from a torn append: drop it
            torn = len(line)
            continue
        if checked and line and not _verifies(line):
            pieces = [(seg, *parse(seg)) for seg in salvage(line)]
            kept = [(seg, cells) for seg, cells, problem in pieces if not problem]
            for seg, _ in kept:
                lines.append(lineno)
                raws.append(seg)
            if is_last_unended and not kept:
                torn = len(line)
            else:
                what = "checksum mismatch"
                if kept:
                    what += f" ({len(kept)} intact row{'s' if len(kept) > 1 else ''} in it kept)"
                damage.append(Damage(name, lineno, what))
            continue
        _, problem = parse(line)
        if problem:
            if is_last_unended:
                torn = len(line)
            else:
                damage.append(Damage(name, lineno, problem))
            continue
        lines.append(lineno)
        raws.append(line)
    out_cols = columns[:-1] if checked else columns
    return Rows(out_cols, lines, damage, torn, checked, raws)
