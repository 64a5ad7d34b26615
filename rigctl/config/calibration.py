"""Calibration records stored in the rig config (measured by `rigctl calibrate`).

A record keeps what was measured (``points``), the monotone fit made from it (``fit``) and when
(``date``). The points are the evidence and the fit is derived from them, so a fit that does not
match its points (a hand edit of one but not the other) is refused at load: the rig and the
operator would otherwise disagree about how much water or light a command gives. Configs written
before fits were stored (``points`` only) still load; the fit is then computed from the points.

Writing a record back into a YAML file keeps the file's comments and layout (ruamel.yaml round
trip, imported only when writing) and replaces the file atomically, after checking that the new
text is a valid rig config, so a failed write leaves the old file as it was.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from rigctl.config.strict import Strict
from rigctl.errors import ConfigError, RigctlError
from rigctl.fitting import CalibrationError, check_stored_fit, fit_monotone

Point = tuple[float, float]

#: most measured points a calibration may hold (a real one has 4-10)
MAX_POINTS = 100
#: bounds of a measured point, far above any real rig, so that a typo such as 1.34e154 is named
#: as out of range instead of overflowing the fit
MAX_OPEN_MS = 5000.0  # = the largest valve.max_open_s allowed, 5 s
MAX_UL_PER_OPENING = 1000.0
MAX_LASER_COMMAND = 1000.0  # V or mW set-point
MAX_LASER_MW = 1000.0

ValvePoint = tuple[
    Annotated[float, Field(ge=0, le=MAX_OPEN_MS)],
    Annotated[float, Field(ge=0, le=MAX_UL_PER_OPENING)],
]
LaserPoint = tuple[
    Annotated[float, Field(ge=0, le=MAX_LASER_COMMAND)],
    Annotated[float, Field(ge=0, le=MAX_LASER_MW)],
]


def _monotone_points(pts: list[Point], rise: str, sign: str) -> list[Point]:
    """Sorted points; both coordinates non-negative and strictly increasing.

    Strictly increasing because the fit is inverted (reward µL → open ms, mW → command): two
    commands giving the same output, or more output from a smaller command, mean the measurement
    went wrong and should be repeated, not averaged away.
    """
    srt = sorted(pts)
    for (x0, y0), (x1, y1) in zip(srt, srt[1:], strict=False):
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"{rise}; re-run `rigctl calibrate`")
    if srt[0][0] < 0 or srt[0][1] < 0:
        raise ValueError(f"{sign} must be >= 0")
    return srt


class MonotoneFitConfig(Strict):
    """``y = c0 + c1·x + c2·x²``, non-negative and non-decreasing over the calibrated range.

    The range is the span of the record's measured points; outside it the fit is not used.
    """

    model: Literal["quadratic"] = Field(
        "quadratic", description="Form of the fit: quadratic, y = c0 + c1·x + c2·x²"
    )
    coefficients: tuple[float, float, float] = Field(
        description="[c0, c1, c2] of y = c0 + c1·x + c2·x² (x: command, y: output)"
    )


class _CalibrationRecord(Strict):
    """Shared check of a measured record (``points``) and its stored ``fit``."""

    @model_validator(mode="after")
    def _fit_matches_points(self) -> _CalibrationRecord:
        fit: MonotoneFitConfig | None = getattr(self, "fit", None)
        if fit is None:
            try:
                fit_monotone(self.points)  # type: ignore[attr-defined]
            except CalibrationError as exc:
                raise ValueError(f"points: {exc}; re-run `rigctl calibrate`") from None
        else:
            problem = check_stored_fit(self.points, fit.coefficients)  # type: ignore[attr-defined]
            if problem:
                raise ValueError(problem)
        return self


_FIT_DESCRIPTION = "Monotone fit of the points (written by `rigctl calibrate`)"
_DATE_DESCRIPTION = "When the calibration was measured (ISO date)"


class ValveCalibrationConfig(_CalibrationRecord):
    """µL of water per opening against open time, for one valve."""

    points: list[ValvePoint] = Field(
        description="Measured [open_ms, µL per opening] pairs; volume must rise with open time",
        min_length=2, max_length=MAX_POINTS,
    )
    openings: int | None = Field(
        None, ge=1, le=1_000_000, description="Openings per point that were weighed together"
    )
    fit: MonotoneFitConfig | None = Field(None, description=_FIT_DESCRIPTION)
    date: dt.date | None = Field(None, description=_DATE_DESCRIPTION)

    @field_validator("points")
    @classmethod
    def _monotone(cls, pts: list[Point]) -> list[Point]:
        return _monotone_points(
            pts, "volumes must increase with open time", "open times and volumes"
        )


class LaserCalibrationConfig(_CalibrationRecord):
    """mW at the fibre tip against the laser's command (volts or power set-point)."""

    command_unit: Literal["V", "mW"] = Field(
        description=(
            "What the command is: V, the analog modulation voltage; mW, the power set-point "
            "sent to the laser (serial laser, simulated laser), uncorrected for fibre losses"
        )
    )
    points: list[LaserPoint] = Field(
        description="Measured [command, mW at the fibre tip] pairs; power must rise with command",
        min_length=2, max_length=MAX_POINTS,
    )
    fit: MonotoneFitConfig | None = Field(None, description=_FIT_DESCRIPTION)
    date: dt.date | None = Field(None, description=_DATE_DESCRIPTION)

    @field_validator("points")
    @classmethod
    def _monotone(cls, pts: list[Point]) -> list[Point]:
        return _monotone_points(
            pts, "power (mW) must increase with the command", "commands and powers"
        )


# --- writing records back into a rig config file ------------------------------------------------


def _num(x: float, digits: int = 7) -> float | int:
    """A short, exact-looking YAML number: integers as ints, others to ``digits`` figures."""
    v = float(f"{float(x):.{digits}g}")
    return int(v) if v.is_integer() and abs(v) < 1e15 else v


def _flow(items: list[Any]) -> Any:
    from ruamel.yaml.comments import CommentedSeq

    seq = CommentedSeq(items)
    seq.fa.set_flow_style()
    return seq


def _record_nodes(record: ValveCalibrationConfig | LaserCalibrationConfig) -> dict[str, Any]:
    """The record as ruamel nodes, in the order they are written: short flow-style lines."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    out: dict[str, Any] = {}
    if isinstance(record, LaserCalibrationConfig):
        out["command_unit"] = record.command_unit
    out["points"] = _flow([_flow([_num(x, 6), _num(y, 6)]) for x, y in record.points])
    if isinstance(record, ValveCalibrationConfig) and record.openings is not None:
        out["openings"] = record.openings
    if record.fit is not None:
        fit = CommentedMap()
        fit["model"] = record.fit.model
        fit["coefficients"] = _flow([_num(c) for c in record.fit.coefficients])
        fit.fa.set_flow_style()
        out["fit"] = fit
    if record.date is not None:
        # Quoted: PyYAML (YAML 1.1) would read a bare 2026-11-28 as a date, ruamel as a string.
        out["date"] = DoubleQuotedScalarString(record.date.isoformat())
    return out


_EOL_COMMENTS = {
    "valve": {
        "points": "[open ms, µL per opening]",
        "fit": "µL per opening = c0 + c1·ms + c2·ms²",
    },
    "laser": {
        "points": "[command, mW at the fibre tip]",
        "fit": "mW = c0 + c1·command + c2·command²",
    },
}


def _last_comment_token(node: Any) -> tuple[Any, Any] | None:
    """(mapping, key) whose end-of-line comment token closes ``node`` in the file, if any."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(node, CommentedMap) or not node:
        return None
    last = list(node.keys())[-1]
    deeper = _last_comment_token(node[last])
    if deeper is not None:
        return deeper
    return node, last


def _move_trailing_blank_lines(mapping: Any, new_key: str) -> None:
    """Keep blank lines that ended ``mapping`` after ``new_key``, the item appended to it.

    ruamel stores blank lines after a block as part of its last item's comment, so an item
    appended after it would otherwise appear below the blank line, visually in the next section.
    """
    from ruamel.yaml.tokens import CommentToken

    keys = list(mapping.keys())
    if len(keys) < 2 or keys[-1] != new_key:
        return
    found = _last_comment_token(mapping[keys[-2]])
    holder, key = found if found is not None else (mapping, keys[-2])
    item = holder.ca.items.get(key)
    if not item or len(item) < 3 or item[2] is None:
        return
    token = item[2]
    text = token.value
    stripped = text.rstrip("\n")
    extra = len(text) - len(stripped) - 1  # keep the newline that ends the comment line
    if extra <= 0:
        return
    token.value = stripped + "\n"
    target = _last_comment_token(mapping[new_key])
    t_holder, t_key = target if target is not None else (mapping, new_key)
    t_item = t_holder.ca.items.setdefault(t_key, [None, None, None, None])
    if t_item[2] is None:
        t_item[2] = CommentToken("\n" * (extra + 1), token.start_mark, None)
    else:
        t_item[2].value = t_item[2].value.rstrip("\n") + "\n" * (extra + 1)


def _update_record(mapping: Any, nodes: dict[str, Any], kind: str, indent: int) -> None:
    """Replace the record's keys in place (keeping their comments and position); new keys go
    right after the ones written before them, so the record always reads in one order."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(mapping, CommentedMap):
        raise RigctlError("calibration section is not a mapping")
    for stale in ("points", "openings", "fit", "date", "command_unit"):
        if stale in mapping and stale not in nodes:
            del mapping[stale]
    previous: str | None = None
    for key, value in nodes.items():
        if key in mapping:
            mapping[key] = value
        else:
            pos = 0 if previous is None else list(mapping.keys()).index(previous) + 1
            mapping.insert(pos, key, value)
        comment = _EOL_COMMENTS[kind].get(key)
        has_comment = key in mapping.ca.items and any(
            tok is not None and "#" in getattr(tok, "value", "")
            for tok in mapping.ca.items[key][2:3]
        )
        if comment and not has_comment:
            mapping.yaml_add_eol_comment(
                comment, key, column=indent + _rendered_width(key, value) + 2
            )
        previous = key


def _rendered_width(key: str, value: Any) -> int:
    """Characters of ``key: value`` on one line as ruamel writes it (to place a comment)."""
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap

    rt = YAML()
    rt.width = 4096
    buf = io.StringIO()
    rt.dump(CommentedMap([(key, value)]), buf)
    return len(buf.getvalue().splitlines()[0])


def _indent_of(mapping: Any, depth: int) -> int:
    """Column of a block mapping's keys: where it was read, else 2 per level (ruamel's)."""
    try:
        return int(mapping.lc.col)
    except (AttributeError, TypeError):
        return 2 * depth


def _set_section(parent: Any, key: str, nodes: dict[str, Any], kind: str, depth: int) -> None:
    """Write ``nodes`` into ``parent[key]``, a block mapping nested ``depth`` levels deep."""
    from ruamel.yaml.comments import CommentedMap

    if key in parent and isinstance(parent[key], CommentedMap) and not parent[key].fa.flow_style():
        section = parent[key]
        _update_record(section, nodes, kind, _indent_of(section, depth))
        return
    section = CommentedMap()
    _update_record(section, nodes, kind, _indent_of(parent, depth - 1) + 2)
    if key in parent:
        parent[key] = section
    else:
        parent.insert(len(parent), key, section)
        _move_trailing_blank_lines(parent, key)


def write_calibration(
    path: str | Path,
    record: ValveCalibrationConfig | LaserCalibrationConfig,
    side: str | None = None,
    laser_name: str | None = None,
) -> str:
    """Store ``record`` in the rig config at ``path``; returns the new file text.

    A valve record goes to ``reward_ports.<side>.calibration``, a laser record to
    ``laser.calibration`` (or ``lasers.<laser_name>.calibration`` on a rig with ``lasers:``).
    Comments, key order and quoting elsewhere in the file are kept. The new text is validated
    as a rig config before it replaces the file (atomically), so on any error the file is
    untouched and a ConfigError/RigctlError names the problem.
    """
    try:
        from ruamel.yaml import YAML
        from ruamel.yaml.error import YAMLError
    except ImportError:
        raise RigctlError(
            "writing calibrations needs ruamel.yaml (pip install ruamel.yaml)"
        ) from None
    import io

    from rigctl.config.loading import validate
    from rigctl.config.rig import RigConfig
    from rigctl.config.yaml_strict import parse_yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(p), [f"cannot be read ({exc})"]) from None
    # The same reading as every load (repeated keys, size): ruamel alone would name a repeated
    # key in a multi-line message, and the file is refused exactly as `rigctl check` refuses it.
    parse_yaml(text, str(p))
    rt = YAML()
    rt.preserve_quotes = True
    rt.width = 4096  # never re-wrap the user's long lines
    try:
        doc = rt.load(text)
    except YAMLError as exc:
        raise ConfigError(str(p), [f"invalid YAML ({str(exc).splitlines()[0]})"]) from None
    if isinstance(record, ValveCalibrationConfig):
        try:
            port = doc["reward_ports"][side]
        except (KeyError, TypeError):
            raise ConfigError(str(p), [f"reward_ports.{side}: section is missing"]) from None
        _set_section(port, "calibration", _record_nodes(record), "valve", depth=3)
    else:
        laser, field, depth = _laser_section(doc, laser_name)
        if laser is None or not hasattr(laser, "insert"):
            raise ConfigError(str(p), [f"{field}: the config has no laser section"])
        _set_section(laser, "calibration", _record_nodes(record), "laser", depth=depth)
    buf = io.StringIO()
    rt.dump(doc, buf)
    new_text = buf.getvalue()
    validate(RigConfig, parse_yaml(new_text, str(p)), str(p))
    _replace_atomically(p, new_text)
    return new_text


def _laser_section(doc: Any, name: str | None) -> tuple[Any, str, int]:
    """The YAML node of laser ``name``, its config path and its indentation depth: the single
    ``laser:`` (named ``laser``), or ``lasers.<name>``."""
    get = doc.get if hasattr(doc, "get") else (lambda _k: None)
    if get("laser") is not None and name in (None, "laser"):
        return get("laser"), "laser", 2
    lasers = get("lasers")
    if name is None or not hasattr(lasers, "get"):
        return None, "laser" if name is None else f"lasers.{name}", 2
    return lasers.get(name), f"lasers.{name}", 3


def _replace_atomically(path: Path, text: str) -> None:
    """Write ``text`` next to ``path`` and rename it over, keeping the file's permissions."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
