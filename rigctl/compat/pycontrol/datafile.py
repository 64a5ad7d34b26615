"""pyControl's data files, written as a pyControl board and GUI would write them.

``.tsv`` (pyControl ≥ 2.0): columns ``time type subtype content``, time in seconds since the
run started with 3 decimals; row types ``info``, ``state``, ``event``, ``print``, ``variable``,
``warning``, ``error`` (format from pyControl's public "pyControl data" page).
``.txt`` (pyControl < 2.0): ``I`` info lines, an ``S`` and an ``E`` JSON line of state and event
IDs, ``D ms id`` data lines, ``P ms text`` prints, ``V ms name value`` variables, ``!`` errors.

Each row is flushed as it is written, so a session that dies keeps every row up to its end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import IO, Any


def variables_json(values: dict[str, Any]) -> str:
    return json.dumps(values, default=repr)


class PyControlDataFiles:
    """The ``.tsv`` and ``.txt`` of one run, named ``<subject>-<YYYY-MM-DD-HHMMSS>``."""

    def __init__(self, folder: Path, stem: str, states: list[str], events: list[str]) -> None:
        self.tsv_path = folder / f"{stem}.tsv"
        self.txt_path = folder / f"{stem}.txt"
        self._tsv: IO[str] | None = open(self.tsv_path, "x", encoding="utf-8")  # noqa: SIM115
        self._txt: IO[str] | None = open(self.txt_path, "x", encoding="utf-8")  # noqa: SIM115
        self._tsv.write("time\ttype\tsubtype\tcontent\n")
        self._ids = {name: i for i, name in enumerate([*states, *events], start=1)}
        self._states = {s: self._ids[s] for s in states}
        self._events = {e: self._ids[e] for e in events}
        self._txt_header_done = False
        self._flush()

    # --- rows --------------------------------------------------------------------------
    def info(self, t: float, name: str, value: str, txt_label: str | None = None) -> None:
        self._row(t, "info", name, value)
        if txt_label is not None and self._txt is not None:
            self._txt.write(f"I {txt_label} : {value}\n")

    def txt_info(self, label: str, value: str) -> None:
        """An ``I`` line of the .txt only (the .tsv has the ISO start_time row instead)."""
        if self._txt is not None:
            self._txt.write(f"I {label} : {value}\n")

    def start_data(self) -> None:
        """End of the info block: the .txt's state and event tables."""
        if self._txt is not None and not self._txt_header_done:
            self._txt.write(f"\nS {json.dumps(self._states)}\n\nE {json.dumps(self._events)}\n\n")
            self._txt_header_done = True

    def state(self, t: float, name: str) -> None:
        self._row(t, "state", "", name)
        self._data(t, name)

    def event(self, t: float, subtype: str, name: str) -> None:
        self._row(t, "event", subtype, name)
        self._data(t, name)

    def print(self, t: float, text: str, subtype: str = "task") -> None:
        self._row(t, "print", subtype, text)
        if self._txt is not None:
            self._txt.write(f"P {_ms(t)} {text}\n")

    def variables(self, t: float, subtype: str, values: dict[str, Any]) -> None:
        """A variable row. In the .txt, ``print_variables`` is a ``P`` line holding the JSON
        (what pyControl's importer reads as variables) and the run-end values are ``V -1``
        lines (the summary lines pyControl's GUI appends)."""
        text = variables_json(values)
        self._row(t, "variable", subtype, text)
        if self._txt is None:
            return
        if subtype == "print":
            self._txt.write(f"P {_ms(t)} {text}\n")
        elif subtype == "run_end":
            for k, val in values.items():
                self._txt.write(f"V -1 {k} {variables_json(val)}\n")

    def error(self, t: float, text: str) -> None:
        self._row(t, "error", "", text.replace("\r", "|").replace("\n", "|"))
        if self._txt is not None:
            self._txt.write(f"! {text}\n")

    def warning(self, t: float, text: str) -> None:
        self._row(t, "warning", "", text)

    def close(self) -> None:
        for f in (self._tsv, self._txt):
            if f is not None and not f.closed:
                f.flush()
                os.fsync(f.fileno())
                f.close()
        self._tsv = self._txt = None

    @property
    def closed(self) -> bool:
        return self._tsv is None

    # --- internals ---------------------------------------------------------------------
    def _row(self, t: float, kind: str, subtype: str, content: str) -> None:
        if self._tsv is None:
            return
        clean = content.replace("\t", " ").replace("\n", " ")
        self._tsv.write(f"{t:.3f}\t{kind}\t{subtype}\t{clean}\n")
        self._flush()

    def _data(self, t: float, name: str) -> None:
        if self._txt is not None and name in self._ids:
            self._txt.write(f"D {_ms(t)} {self._ids[name]}\n")
            self._txt.flush()

    def _flush(self) -> None:
        for f in (self._tsv, self._txt):
            if f is not None:
                f.flush()


def _ms(t: float) -> int:
    return int(round(t * 1000.0))
