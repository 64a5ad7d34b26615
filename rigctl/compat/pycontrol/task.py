"""Load a pyControl task file into a rigctl Protocol class, and run it as one.

The task file (and the ``hardware_definition.py`` it imports) is executed with its own
``__import__``: ``pyControl``, ``pyControl.utility``, ``devices`` and ``hardware_definition``
resolve to this runtime's modules for that execution only, so nothing is added to
``sys.modules`` and two sessions never share a module. ``print`` in the task writes print rows.
The file is executed once when loaded (to learn its states, events and pins) and once more,
fresh, for every session.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import hashlib
import traceback
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from rigctl.compat.pycontrol.binding import PyControlBinding, binding_problems
from rigctl.compat.pycontrol.devices import device_namespace, pyb_namespace
from rigctl.compat.pycontrol.runtime import PyControlRuntime, TaskError
from rigctl.compat.pycontrol.static_check import MICROPYTHON_ONLY, check_task
from rigctl.errors import RigctlError
from rigctl.hardware.rig import Rig
from rigctl.protocols.base import Protocol, ProtocolContext
from rigctl.protocols.spec import ProtocolSpec
from rigctl.protocols.static_check import parse
from rigctl.protocols.trial import col
from rigctl.runtime.machine import ENTRY, EXIT


class PyControlParams(BaseModel):
    """A pyControl task has no rigctl parameters: its variables live in ``v``. ``n_trials`` is
    0 because pyControl tasks write no rigctl trials (progress displays read it)."""

    model_config = ConfigDict(extra="forbid")
    n_trials: int = Field(0, ge=0, description="Unused by pyControl tasks (no rigctl trials)")


@dataclass(frozen=True)
class TaskInfo:
    path: Path
    source: str
    sha256: str
    hardware_definition: Path | None
    states: tuple[str, ...]
    events: tuple[str, ...]
    initial_state: str
    input_pins: frozenset[str]
    output_pins: frozenset[str]
    variables: dict[str, Any] = field(default_factory=dict)
    analog_pins: frozenset[str] = frozenset()  # Analog_input/Rotary_encoder names


def is_pycontrol_task(path: str | Path) -> bool:
    """A ``.py`` file that imports pyControl: what ``--protocol`` hands to this runtime. A
    missing ``.py`` counts too, so that the error names the missing task file."""
    p = Path(path)
    if p.suffix != ".py":
        return False
    if not p.exists():
        return True
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return "pyControl" in text


def execute(path: Path, source: str, rt: PyControlRuntime,
            hardware_definition: Path | None) -> dict[str, Any]:
    """Run the task module with the shims; returns its namespace. Errors name file:line."""
    util = ModuleType("pyControl.utility")
    util.__dict__.update(rt.utility())
    util.__all__ = list(rt.utility())  # type: ignore[attr-defined]
    pkg = ModuleType("pyControl")
    pkg.__path__ = []  # type: ignore[attr-defined]  # a package
    pkg.utility = util  # type: ignore[attr-defined]
    devices = ModuleType("devices")
    devices.__dict__.update(device_namespace(rt))
    devices.__all__ = [k for k in devices.__dict__ if not k.startswith("_")]  # type: ignore
    pkg.hardware = devices  # type: ignore[attr-defined]
    pyb = ModuleType("pyb")
    pyb.__dict__.update(pyb_namespace(rt))
    loaded: dict[str, ModuleType] = {}
    own_builtins = dict(vars(builtins))

    def load_hw() -> ModuleType:
        if "hw" not in loaded:
            hw_path = hardware_definition or path.with_name("hardware_definition.py")
            mod = ModuleType("hardware_definition")
            mod.__dict__.update({"__builtins__": own_builtins, "__file__": str(hw_path)})
            _run(hw_path, hw_path.read_text(encoding="utf-8"), mod.__dict__)
            loaded["hw"] = mod
        return loaded["hw"]

    def shim_import(name: str, globals: Any = None, locals: Any = None,  # noqa: A002
                    fromlist: Any = (), level: int = 0) -> Any:
        if level == 0:
            if name == "pyControl":
                return pkg
            if name == "pyControl.utility":
                return util if fromlist else pkg
            if name == "devices":
                return devices
            if name == "pyControl.hardware":  # pyControl 1.x kept the device classes there
                return devices if fromlist else pkg
            if name == "hardware_definition":
                return load_hw()
            if name == "pyb":  # the pyboard's LEDs only (static_check refuses the rest)
                return pyb
            if name.split(".")[0] in MICROPYTHON_ONLY:
                raise ImportError(f"{name!r} is a MicroPython-only module")
        return builtins.__import__(name, globals, locals, fromlist, level)

    own_builtins["__import__"] = shim_import
    own_builtins["print"] = rt.print
    namespace: dict[str, Any] = {"__builtins__": own_builtins, "__name__": path.stem,
                                 "__file__": str(path)}
    _run(path, source, namespace)
    return namespace


def _run(path: Path, source: str, namespace: dict[str, Any]) -> None:
    try:
        exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - the user's task
    except RigctlError:
        raise
    except Exception as exc:
        raise TaskError(f"{where(exc, {path})}: {type(exc).__name__}: {exc}") from None


def where(exc: BaseException, files: set[Path]) -> str:
    """``task.py:LINE`` of the innermost frame in one of ``files``."""
    names = {str(f) for f in files}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename in names:
            return f"{Path(frame.filename).name}:{frame.lineno}"
    return Path(next(iter(files))).name if files else "task"


def _line_of(source: str, name: str) -> int:
    for node in ast.walk(parse(source)):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            return node.lineno
    return 1


def inspect_task(path: Path, binding: PyControlBinding) -> TaskInfo:
    """Check statically, then execute once without a rig: states, events and pins."""
    hw = Path(binding.hardware_definition) if binding.hardware_definition else None
    problems = check_task(path, hw)
    if problems:
        raise RigctlError("\n".join(problems))
    source = path.read_text(encoding="utf-8")
    rt = PyControlRuntime(path, np.random.default_rng(0), binding)
    ns = execute(path, source, rt, hw)
    name = path.name
    states, events, initial = ns.get("states"), ns.get("events", []), ns.get("initial_state")
    if not isinstance(states, (list, tuple)) or not states or \
            not all(isinstance(s, str) for s in states):
        raise RigctlError(f"{name}:{_line_of(source, 'states')}: `states` must be a list of "
                          "state names")
    if not isinstance(events, (list, tuple)) or not all(isinstance(e, str) for e in events):
        raise RigctlError(f"{name}:{_line_of(source, 'events')}: `events` must be a list of "
                          "event names")
    if initial not in states:
        raise RigctlError(f"{name}:{_line_of(source, 'initial_state')}: initial_state "
                          f"{initial!r} is not one of the states {list(states)}")
    missing = [s for s in states if not callable(ns.get(s))]
    if missing:
        raise RigctlError(f"{name}:{_line_of(source, 'states')}: no state behaviour function "
                          f"for {', '.join(missing)} (write `def {missing[0]}(event):`)")
    if len(set(states)) != len(states):
        raise RigctlError(f"{name}:{_line_of(source, 'states')}: a state is listed twice")
    return TaskInfo(
        path=path, source=source, sha256=hashlib.sha256(source.encode()).hexdigest(),
        hardware_definition=hw, states=tuple(states), events=tuple(events),
        initial_state=initial, input_pins=frozenset(rt.inputs),
        output_pins=frozenset(rt.outputs), variables=rt.v.public(),
        analog_pins=frozenset(rt.analogs),
    )


def load_task(path: str | Path, binding: PyControlBinding) -> ProtocolSpec:
    """A ProtocolSpec whose class runs the pyControl task at ``path`` (RigctlError if the file
    cannot run: one line per problem, naming file:line)."""
    p = Path(path)
    if not p.is_file():
        raise RigctlError(f"{p}: no such task file")
    info = inspect_task(p.resolve(), binding)
    cls = type(f"PyControl_{p.stem}", (PyControlTask,), {
        "name": f"pycontrol_{p.stem}", "Params": PyControlParams, "states": info.states,
        "initial_state": info.initial_state, "task": info, "binding": binding,
    })
    return ProtocolSpec(cls=cls, params=PyControlParams(), source=str(p), sha256=info.sha256)


@dataclass
class PyControlTrial:
    """pyControl tasks have no trial structure (their data are the events, the ``.tsv`` and
    the ``.txt``): trials.csv stays empty, with only these columns instead of delayed
    alternation's."""

    trial: int = col("", "Trial number (never written: pyControl tasks have no trials)")
    start_s: float = col("s", "Trial start on the session clock")
    end_s: float = col("s", "Trial end")


class PyControlTask(Protocol):
    """A pyControl task file on rigctl's engine; subclasses made by :func:`load_task`."""

    Trial = PyControlTrial
    task: ClassVar[TaskInfo]
    binding: ClassVar[PyControlBinding]

    @classmethod
    def rig_problems(cls, params: BaseModel, rig: Rig) -> list[str]:
        return binding_problems(cls.binding, rig, set(cls.task.input_pins),
                                set(cls.task.output_pins), set(cls.task.analog_pins))

    def __init__(self, params: BaseModel, ctx: ProtocolContext) -> None:
        super().__init__(params, ctx)
        info = self.task
        self.rt = PyControlRuntime(info.path, ctx.rng, self.binding, list(info.events))
        ns = execute(info.path, info.source, self.rt, info.hardware_definition)
        self._files = {info.path} | ({info.hardware_definition or
                                      info.path.with_name("hardware_definition.py")})
        self._fns: dict[str, Callable[[str], Any]] = {s: ns[s] for s in info.states}
        self._all_states = ns.get("all_states")
        self._run_start, self._run_end = ns.get("run_start"), ns.get("run_end")
        self.rt.attach(ctx, self.finish)
        self.entered: dict[str, int] = dict.fromkeys(info.states, 0)
        self._begun = self._stopped = False
        session = getattr(ctx.log, "__self__", None)  # see docs/pycontrol.md "hooks"
        listeners = getattr(session, "event_listeners", None)
        if listeners is not None:
            listeners.append(self._on_event)

    def handlers(self) -> dict[str, Callable[[str], None]]:
        return {s: partial(self._handle, s) for s in self.task.states}

    def _user(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Call task code; an exception becomes one line naming the task's file:line."""
        try:
            return fn(*args)
        except TaskError as exc:
            if exc.located:  # raised by task code called from task code: already named
                raise
            text = f"{self._where(exc)}: {exc}"
        except RigctlError as exc:  # e.g. an interlock refused a command of the task
            text = f"{self._where(exc)}: {exc}"
        except Exception as exc:
            text = f"{self._where(exc)}: {type(exc).__name__}: {exc}"
        self.rt.error(text)
        raise TaskError(text, located=True) from None

    def _where(self, exc: BaseException) -> str:
        return where(exc, {Path(f) for f in self._files})

    def _handle(self, state: str, event: str) -> None:
        if event == ENTRY:
            if not self._begun:
                self._begin()
                if self._stopped:  # stop_framework in run_start
                    return
            self.entered[state] += 1
            self.rt.state_entered(state)
            with self.rt.transition():
                self._user(self._fns[state], "entry")
        elif event == EXIT:
            if self._stopped:
                return  # pyControl calls run_end, not exit, when the framework stops
            with self.rt.transition():
                self._user(self._fns[state], "exit")
        else:
            name = self.rt.translate(event)
            if name is None:
                return
            if self._all_states is not None and self._user(self._all_states, name):
                return  # all_states returned True: the state's function is not called
            self._user(self._fns[state], name)

    def _begin(self) -> None:
        self._begun = True
        session = getattr(self.ctx.log, "__self__", None)  # see docs/pycontrol.md "hooks"
        writer = getattr(session, "writer", None)
        folder = getattr(writer, "folder", None)
        opts = getattr(session, "opts", None)
        info = {
            "experiment_name": "rigctl", "task_name": self.task.path.stem,
            "task_file_hash": str(zlib.crc32(self.task.source.encode())),
            "setup_id": self.rig.cfg.name,
            "subject_id": getattr(getattr(opts, "subject", None), "id", "subject"),
            "states_list": ",".join(self.task.states),
        }
        self.rt.begin(Path(folder) if folder is not None else None, info)
        if self._run_start is not None:
            self._user(self._run_start)

    def finish(self) -> None:
        """End of the run (stop_framework, ``--duration``): run_end, data closed, stop."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._begun and self._run_end is not None:
                self._user(self._run_end)
        finally:
            self.rt.end()
            self.ctx.machine.stop()

    def _on_event(self, t: float, kind: str, name: str, value: str) -> None:
        """The session's shutdown logs ``all_off`` on every exit path, after turning every
        output off: a run that did not end by ``stop_framework`` or ``--duration`` (an error
        in a handler, Ctrl-C, a stop request, an interlock abort) gets its ``run_end`` here,
        as on a pyControl board, and its data files closed; then outputs go off again, since
        ``run_end`` may have touched them. Never raises: the shutdown must go on."""
        if kind != "output" or name != "all_off" or self._stopped:
            return
        self._stopped = True
        ran = self._begun and self._run_end is not None
        try:
            if ran:
                with contextlib.suppress(Exception):  # _user wrote the error row already
                    self._user(self._run_end)  # type: ignore[arg-type]
        finally:
            with contextlib.suppress(Exception):
                self.rt.end()
            if ran:  # whatever run_end turned on goes off again
                with contextlib.suppress(Exception):
                    for failure in self.rig.all_off():
                        self.ctx.log(t, "error", "all_off", failure)

    def progress(self) -> dict[str, float]:
        return {"trial": 0, "states_entered": sum(1 for n in self.entered.values() if n),
                "states": len(self.entered)}

    def never_entered(self) -> list[str]:
        return [s for s, n in self.entered.items() if not n]

    def coverage_line(self) -> str:
        """States never entered: the branches this run did not reach."""
        missed = self.never_entered()
        n = len(self.entered)
        if not missed:
            return f"states: all {n} entered"
        return f"states: {n - len(missed)}/{n} entered; never entered: {', '.join(missed)}"
