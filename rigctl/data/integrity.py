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


@dataclass
class Rows:
    """What :func:`read_rows` found: the columns, the intact rows with their line numbers,
    the damaged lines, and whether the last line was torn (no line end and not intact)."""

    columns: list[str]
    rows: list[list[str]]
    lines: list[int]
    damage: list[Damage]
    torn_bytes: int = 0
    checked: bool = False


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
        return Rows(list(fallback), [], [], damage)
    head = raw[0] if raw else last
    head_text = head.decode("utf-8", errors="replace").rstrip("\r")
    columns = _cells(head_text)
    if columns not in [list(h) for h in headers]:
        damage.append(Damage(name, 1, f"header damaged ({head_text[:60]!r}); assumed the "
                                      f"columns {','.join(fallback)}"))
        columns = list(fallback)
    checked = bool(columns) and columns[-1] == CRC_COLUMN
    width = len(columns)
    rows: list[list[str]] = []
    lines: list[int] = []
    torn = 0
    body = raw[1:] if raw else []
    n_body = len(body)
    if raw and last:
        body.append(last)
    for i, line in enumerate(body):
        lineno = i + 2
        is_last_unended = i == n_body
        problem = ""
        if is_last_unended and not checked:  # cannot be told from a torn append: drop it
            torn = len(line)
            continue
        if checked:
            cut = line.rfind(b",")
            if cut < 0 or len(line) - cut - 1 != 8:
                problem = "no checksum"
            else:
                try:
                    ok = int(line[cut + 1:], 16) == zlib.crc32(line[:cut])
                except ValueError:
                    ok = False
                if not ok:
                    problem = "checksum mismatch"
        if not problem:
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError:
                problem = "not UTF-8 text"
            else:
                cells = _cells(text.rstrip("\r"))
                if not line:
                    problem = "empty line"
                elif len(cells) != width:
                    problem = f"{len(cells)} fields, expected {width}"
        if problem:
            if is_last_unended:
                torn = len(line)
            else:
                damage.append(Damage(name, lineno, problem))
            continue
        rows.append(cells[:-1] if checked else cells)
        lines.append(lineno)
    out_cols = columns[:-1] if checked else columns
    return Rows(out_cols, rows, lines, damage, torn, checked)
