"""Which states a session entered and which transitions it took — and which it never did.

A task tried on a simulated subject is only tested where the subject took it. The coverage
report says where it did not: states never entered, and transitions the task's code can make
(from the static check's graph) that never happened, so a scientist sees the branches to test
before an animal meets them.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from rigctl.data.writer import write_json_atomic

COVERAGE_FILE = "coverage.json"


class Coverage:
    """Counts state entries and transitions from the session's ``state`` log lines."""

    def __init__(self, states: tuple[str, ...], graph: dict[str, set[str]] | None,
                 operator_states: tuple[str, ...] = ()) -> None:
        self.states = states
        self.operator_states = operator_states
        self.graph = graph  # None when the task computes its goto targets
        self.entries: Counter[str] = Counter()
        self.transitions: Counter[tuple[str, str]] = Counter()
        self._current: str | None = None

    def listener(self, t: float, kind: str, name: str, value: str) -> None:
        if kind != "state":
            return
        self.entries[name] += 1
        if self._current is not None:
            self.transitions[(self._current, name)] += 1
        self._current = name

    def report(self) -> dict[str, Any]:
        never = [s for s in self.states if not self.entries[s]]
        out: dict[str, Any] = {
            "states": {s: self.entries[s] for s in self.states},
            "never_entered": [s for s in never if s not in self.operator_states],
            "operator_states": list(self.operator_states),
            "transitions": {f"{a} -> {b}": n for (a, b), n in sorted(self.transitions.items())},
        }
        if self.graph is not None:
            possible = sorted((a, b) for a, targets in self.graph.items() for b in targets)
            out["never_taken"] = [f"{a} -> {b}" for a, b in possible
                                  if not self.transitions[(a, b)]
                                  and a not in self.operator_states
                                  and b not in self.operator_states]
        return out

    def write(self, folder: Path) -> Path:
        path = Path(folder) / COVERAGE_FILE
        write_json_atomic(path, self.report())
        return path


def format_report(report: dict[str, Any]) -> str:
    """The report as the terminal shows it after `rigctl run --coverage`."""
    states = report["states"]
    operator = set(report.get("operator_states", ()))
    entered = sum(1 for n in states.values() if n)
    lines = [f"coverage: {entered}/{len(states)} states entered"]
    for s, n in states.items():
        mark = "  " if n else ("--" if s in operator else "!!")
        note = "  (entered only when the operator pauses)" if s in operator and not n else ""
        lines.append(f"  {mark} {s:<20} {n:>7}x{note}")
    never = report.get("never_taken")
    if never is not None:
        taken = len(report["transitions"])
        lines.append(f"  transitions taken: {taken}; possible but never taken: {len(never)}")
        lines += [f"  !! {t}" for t in never]
    return "\n".join(lines)


def load_report(folder: Path) -> dict[str, Any]:
    return json.loads((Path(folder) / COVERAGE_FILE).read_text(encoding="utf-8"))
