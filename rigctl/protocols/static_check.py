"""The task check that runs before any session: read the task's code, compare it with the rig.

Like bpod-core's ``check()`` and pyControl's declared events, but from the code itself: every
``goto``/``timed_goto`` target must be a state, every state must be reachable from the initial
state, every event a state handles must be one this rig (or the task's own timers) can produce,
and every output the code sets must exist. Each problem is one line with ``file:line``. Where
the code computes a name (``self.goto(next_state)``), the check cannot know it and stays quiet
rather than guess.
"""

from __future__ import annotations

import ast
import functools
import inspect
import textwrap
import threading
from dataclasses import dataclass, field

from rigctl.config.rig import CUES, RigConfig
from rigctl.protocols.base import Protocol
from rigctl.runtime.machine import ENTRY, EXIT
from rigctl.runtime.signals import CROSSING

GOTO = {"goto", "timed_goto", "goto_state", "timed_goto_state"}
# CPython before 3.11.8 / 3.12.1 can fail ast.parse run from two threads at once ("AST
# constructor recursion depth mismatch", gh-106905); cohorts on Dask threads check tasks in
# parallel, so parsing is serialised. The lock guards no data.
_PARSE_LOCK = threading.RLock()


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """``ast.parse``, one thread at a time (see ``_PARSE_LOCK``)."""
    with _PARSE_LOCK:
        return ast.parse(source, filename=filename)
OUTPUT_CALLS = {"on", "off", "output"}


@dataclass
class _Method:
    name: str
    file: str
    gotos: list[tuple[str | None, int]] = field(default_factory=list)  # None: computed
    events: list[tuple[str, int]] = field(default_factory=list)
    timers: list[str] = field(default_factory=list)
    outputs: list[tuple[str, int]] = field(default_factory=list)
    calls: set[str] = field(default_factory=set)
    parent: _Method | None = None  # the overridden method, when this one calls super()


def _const(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _targets(node: ast.AST) -> list[str | None]:
    """Goto targets of an argument: a constant, or both arms of ``"a" if c else "b"``."""
    if isinstance(node, ast.IfExp):
        return _targets(node.body) + _targets(node.orelse)
    return [_const(node)]


class _Reader(ast.NodeVisitor):
    def __init__(self, m: _Method, offset: int) -> None:
        self.m, self.offset = m, offset

    def visit_Call(self, node: ast.Call) -> None:
        f = node.func
        if isinstance(f, ast.Attribute):
            line = node.lineno + self.offset
            if f.attr in GOTO and node.args:
                self.m.gotos += [(t, line) for t in _targets(node.args[0])]
            elif f.attr == "set_timer" and node.args and _const(node.args[0]):
                self.m.timers.append(_const(node.args[0]))  # type: ignore[arg-type]
            elif f.attr in OUTPUT_CALLS and isinstance(f.value, ast.Name) and \
                    f.value.id == "self":
                for arg in node.args:
                    if _const(arg):
                        self.m.outputs.append((_const(arg), line))  # type: ignore[arg-type]
            if isinstance(f.value, ast.Name) and f.value.id == "self":
                self.m.calls.add(f.attr)
            elif isinstance(f.value, ast.Call) and isinstance(f.value.func, ast.Name) and \
                    f.value.func.id == "super":
                self.m.calls.add(f"super:{f.attr}")
        self.generic_visit(node)

    def visit_Compare(self, node: ast.Compare) -> None:
        """``event == "x"`` and ``event in ("x", "y")``: the events a handler handles."""
        if isinstance(node.left, ast.Name) and node.left.id == "event":
            line = node.lineno + self.offset
            for op, right in zip(node.ops, node.comparators, strict=False):
                if isinstance(op, ast.Eq) and _const(right):
                    self.m.events.append((_const(right), line))  # type: ignore[arg-type]
                elif isinstance(op, ast.In) and isinstance(right, (ast.Tuple, ast.List,
                                                                    ast.Set)):
                    self.m.events += [(_const(e), line) for e in right.elts if _const(e)]
        self.generic_visit(node)


@functools.lru_cache(maxsize=256)
def _methods(cls: type[Protocol]) -> dict[str, _Method]:
    """Every method of the task's own classes (most derived wins), read from source once per
    class: a cohort's worker threads then check the task without parsing it again."""
    with _PARSE_LOCK:
        return _read_methods(cls)


def _read_methods(cls: type[Protocol]) -> dict[str, _Method]:
    out: dict[str, _Method] = {}
    for klass in reversed(cls.__mro__):
        if not (isinstance(klass, type) and issubclass(klass, Protocol)) or klass is Protocol:
            continue
        try:
            lines, start = inspect.getsourcelines(klass)
            file = inspect.getsourcefile(klass) or "<task>"
        except (OSError, TypeError):
            continue
        tree = ast.parse(textwrap.dedent("".join(lines)))  # under _PARSE_LOCK (caller)
        body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                m = _Method(node.name, file, parent=out.get(node.name))
                _Reader(m, start - 1).visit(node)
                out[node.name] = m
    return out


def task_graph(cls: type[Protocol]) -> dict[str, set[str]] | None:
    """State -> the states its code can go to; None when a target is computed at run time."""
    methods = _methods(cls)
    states = set(cls.states)
    graph: dict[str, set[str]] = {}
    for s in cls.states:
        reach: set[str] = set()
        for name in _closure(methods, states, s, set()):
            for target, _ in (g for b in _chain(methods[name]) for g in b.gotos):
                if target is None:
                    return None
                reach.add(target)
        graph[s] = reach & states
    return graph


def _closure(methods: dict[str, _Method], states: set[str], name: str, seen: set[str]
             ) -> set[str]:
    """The method ``name`` and the helpers it calls (``self.x()``), transitively."""
    if name in seen or name not in methods:
        return seen
    seen.add(name)
    for body in _chain(methods[name]):
        for c in body.calls:
            if c not in states and not c.startswith("super:"):
                _closure(methods, states, c, seen)
    return seen


def _chain(m: _Method) -> list[_Method]:
    """A method and the overridden ones it reaches through ``super().name(...)``."""
    out = [m]
    while out[-1].parent is not None and f"super:{out[-1].name}" in out[-1].calls:
        out.append(out[-1].parent)
    return out


def _all(m: _Method) -> list[_Method]:
    """A method and every definition it overrides."""
    out = [m]
    while out[-1].parent is not None:
        out.append(out[-1].parent)
    return out


def check_task(cls: type[Protocol], rig: RigConfig) -> list[str]:
    """One line per problem of ``cls`` on ``rig`` (empty when the task can run there)."""
    methods = _methods(cls)
    states = set(cls.states)
    problems: list[str] = []

    def where(m: _Method, line: int) -> str:
        return f"{m.file}:{line}"

    try:
        task_file = inspect.getsourcefile(cls) or cls.name
    except TypeError:
        task_file = cls.name

    def closure(name: str, seen: set[str]) -> set[str]:
        return _closure(methods, states, name, seen)

    timers = {t for m in methods.values() for b in _all(m) for t in b.timers}
    timers |= set(getattr(cls, "timer_events", ()))
    inputs = set(rig.input_names())
    producible = {ENTRY, EXIT, *inputs, *(f"{n}_off" for n in inputs), *timers}
    # Inputs the task declares it requires are reported once, as a requirement, below.
    producible |= set(cls.requires.inputs) | {f"{n}_off" for n in cls.requires.inputs}
    if rig.neural_signal is not None:
        producible.add(CROSSING)
    outputs = set(rig.output_names()) | set(CUES) | set(cls.requires.outputs)

    every = {id(b): b for m in methods.values() for b in _all(m)}.values()
    for m in every:
        for target, line in m.gotos:
            if target is not None and target not in states:
                problems.append(f"{where(m, line)}: goto target {target!r} is not a state of "
                                f"{cls.name} (states: {', '.join(cls.states)})")
        for name, line in m.outputs:
            if name not in outputs:
                problems.append(f"{where(m, line)}: output {name!r} is not on this rig "
                                f"(outputs: {', '.join(sorted(rig.output_names())) or 'none'})")
    # Reachability: edges of a state are the gotos of its handler and of the helpers it calls.
    edges = task_graph(cls)
    if edges is not None:
        seen, todo = set(), [cls.initial_state, *cls.entry_states]
        while todo:
            s = todo.pop()
            if s in seen or s not in states:
                continue
            seen.add(s)
            todo += sorted(edges.get(s, ()))
        for s in cls.states:
            if s not in seen:
                m = methods.get(s)
                loc = f"{m.file}: " if m else f"{task_file}: "
                problems.append(f"{loc}state {s!r} is never reached from the initial state "
                                f"{cls.initial_state!r} (no goto leads to it)")
    for s in cls.states:
        for name in closure(s, set()):
            for m, (event, line) in ((b, e) for b in _chain(methods[name]) for e in b.events):
                if event not in producible:
                    problems.append(
                        f"{where(m, line)}: state {s!r} handles event {event!r}, which no input "
                        f"of this rig produces (inputs: {', '.join(sorted(inputs)) or 'none'}; "
                        f"timers: {', '.join(sorted(timers)) or 'none'})")
    problems += [f"{task_file}: {p}" for p in cls.requires.problems(cls.name, rig)]
    simulated = all(d.type == "sim" for d in rig.devices.values())
    if cls.agent is not None and simulated:
        problems += [f"{task_file}: task {cls.name}: {p}" for p in
                     cls.agent.rig_problems(rig.output_names(), rig.input_names())]
    for event in cls.events:
        if event not in producible and event != CROSSING:
            problems.append(f"{task_file}: task {cls.name}: declared event {event!r} cannot be "
                            f"produced on this rig (inputs: {', '.join(sorted(inputs)) or 'none'})")
    return list(dict.fromkeys(problems))  # a helper shared by states reports once
