"""Choose the task and validate its parameters, from a name, a file or the rig's default.

Resolution order: ``--protocol`` (a task name, a task file ``.py``, or a protocol YAML with
``name:`` or ``task:`` and ``parameters:``), else the rig config's ``protocol:`` section, else
delayed alternation with its defaults. Overrides from the command line (``--trials``) are
validated with the same model.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from rigctl.catalog.discovery import find_task, is_pycontrol_task, is_task_file
from rigctl.config.loading import read_yaml, validate
from rigctl.config.rig import ProtocolChoice, RigConfig
from rigctl.errors import ConfigError, RigctlError
from rigctl.protocols.base import Protocol
from rigctl.protocols.spec import ProtocolSpec, TaskFile
from rigctl.protocols.static_check import check_task

DEFAULT_PROTOCOL = "delayed_alternation"
CLI_FLAGS = {"n_trials": "trials"}


def _task(choice: ProtocolChoice, base: Path | None, source: str, field: str
          ) -> tuple[type[Protocol], TaskFile | None]:
    if choice.task is not None:
        path = Path(choice.task).expanduser()
        if not path.is_absolute() and base is not None:
            path = base / path
        return find_task(str(path), source)
    assert choice.name is not None
    try:
        return find_task(choice.name, source)
    except ConfigError as exc:
        if source == "--protocol":  # the command line's own word: no field to name
            raise
        raise ConfigError(source, [f"{field}: {p}" for p in exc.problems]) from None


def _pycontrol(arg: str, rig: RigConfig, rig_source: str) -> ProtocolSpec:
    """A pyControl task file, bound to the rig by its ``pycontrol:`` section (or defaults)."""
    from rigctl.compat.pycontrol import PyControlBinding, load_task
    from rigctl.compat.pycontrol.binding import default_binding

    binding = (validate(PyControlBinding, rig.pycontrol, rig_source, prefix="pycontrol")
               if rig.pycontrol is not None else default_binding(rig))
    return load_task(str(Path(arg).expanduser()), binding)


def resolve_protocol(
    arg: str | None, rig: RigConfig, rig_source: str, overrides: dict[str, Any] | None = None
) -> ProtocolSpec:
    sha = ""
    base: Path | None = None
    if arg is not None and is_task_file(arg) and Path(arg).expanduser().is_file() \
            and is_pycontrol_task(arg):
        return _pycontrol(arg, rig, rig_source)
    if arg is not None and is_task_file(arg):
        choice = ProtocolChoice(task=str(Path(arg).expanduser().resolve()))
        source, prefix = arg, ""
    elif arg is not None and (arg.endswith((".yaml", ".yml")) or Path(arg).is_file()):
        path = Path(arg)
        data = read_yaml(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        choice = validate(ProtocolChoice, data, str(path))
        source, prefix, base = str(path), "parameters", path.parent
    elif arg is not None:
        same = rig.protocol is not None and rig.protocol.name == arg
        params = dict(rig.protocol.parameters) if same and rig.protocol else {}
        choice = ProtocolChoice(name=arg, parameters=params)
        source, prefix = (rig_source, "protocol.parameters") if same else ("--protocol", "")
    elif rig.protocol is not None:
        choice, source, prefix = rig.protocol, rig_source, "protocol.parameters"
        base = Path(rig_source).parent if rig_source not in ("", "<config>") else None
    else:
        choice, source, prefix = ProtocolChoice(name=DEFAULT_PROTOCOL), "<default>", ""
    cls, task_file = _task(choice, base, source, "protocol.name" if prefix else "name")
    if task_file is not None and not prefix:
        source = task_file.path
    problems = check_task(cls, rig)
    if problems:
        raise RigctlError("\n".join(problems))
    overrides = overrides or {}
    values = {**choice.parameters, **overrides}
    try:
        params = validate(cls.Params, values, source, prefix=prefix)
    except ConfigError as exc:
        # A bad command-line value is the command line's fault, not the file's.
        heads = {f"{prefix}.{k}" if prefix else k: k for k in overrides}
        cli = [p for p in exc.problems if p.split(":", 1)[0] in heads]
        if cli:
            raise ConfigError("command line", [
                f"--{CLI_FLAGS.get(heads[p.split(':', 1)[0]], heads[p.split(':', 1)[0]])}"
                f"{p[p.index(':'):]}"
                for p in cli
            ]) from None
        raise
    return ProtocolSpec(cls=cls, params=params, source=source,
                        sha256=task_file.sha256 if task_file else sha, file=task_file)
