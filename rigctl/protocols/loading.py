"""Choose the protocol and validate its parameters, from a name, a file or the rig's default.

Resolution order: ``--protocol`` (a registered name or a YAML file with ``name`` and
``parameters``), else the rig config's ``protocol:`` section, else delayed alternation with its
defaults. Overrides from the command line (``--trials``) are validated with the same model.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from rigctl.config.loading import read_yaml, validate
from rigctl.config.rig import ProtocolChoice, RigConfig
from rigctl.errors import ConfigError
from rigctl.protocols import PROTOCOLS, Protocol

DEFAULT_PROTOCOL = "delayed_alternation"
CLI_FLAGS = {"n_trials": "trials"}


@dataclass(frozen=True)
class ProtocolSpec:
    cls: type[Protocol]
    params: BaseModel
    source: str
    sha256: str = ""

    @property
    def name(self) -> str:
        return self.cls.name


def _lookup(name: str, source: str, field: str) -> type[Protocol]:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(
            source, [f"{field}: unknown protocol {name!r} (known: {', '.join(PROTOCOLS)})"]
        ) from None


def resolve_protocol(
    arg: str | None, rig: RigConfig, rig_source: str, overrides: dict[str, Any] | None = None
) -> ProtocolSpec:
    sha = ""
    if arg is not None and arg not in PROTOCOLS:
        path = Path(arg)
        if not path.suffix and not path.exists():
            raise ConfigError(
                "--protocol", [f"{arg!r} is neither a protocol name ({', '.join(PROTOCOLS)}) "
                               "nor a file"]
            )
        data = read_yaml(path)
        sha = hashlib.sha256(path.read_bytes()).hexdigest()
        choice = validate(ProtocolChoice, data, str(path))
        source, prefix = str(path), "parameters"
    elif arg is not None:
        same = rig.protocol is not None and rig.protocol.name == arg
        params = dict(rig.protocol.parameters) if same and rig.protocol else {}
        choice = ProtocolChoice(name=arg, parameters=params)
        source, prefix = (rig_source, "protocol.parameters") if same else ("--protocol", "")
    elif rig.protocol is not None:
        choice, source, prefix = rig.protocol, rig_source, "protocol.parameters"
    else:
        choice, source, prefix = ProtocolChoice(name=DEFAULT_PROTOCOL), "<default>", ""
    cls = _lookup(choice.name, source, "protocol.name" if prefix else "name")
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
    return ProtocolSpec(cls=cls, params=params, source=source, sha256=sha)
