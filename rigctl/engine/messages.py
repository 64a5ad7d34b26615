"""The messages between the GUI and its engine and manual child processes, one class each.

Both directions are typed: a command or a report is a frozen dataclass, pickled over the pipe,
so a misspelt command is an ``AttributeError`` at the sender instead of an "unknown command"
warning in a log, a handler reads named fields instead of ``cmd[3]``, and this module is the one
list of what may be said (``docs/gui.md`` has the table). Nothing here imports Qt or a device.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from rigctl.protocols.trial import TrialSchema

# --- parent → engine child ----------------------------------------------------------------------


@dataclass(frozen=True)
class Pause:
    """Hold at the next trial boundary (``paused=False`` resumes)."""

    paused: bool


@dataclass(frozen=True)
class Finish:
    """End after the trial in progress (status ``aborted``, ``reason`` recorded)."""

    reason: str


@dataclass(frozen=True)
class Stop:
    """End after the current event (status ``aborted``)."""

    reason: str


@dataclass(frozen=True)
class SetParams:
    """Parameter changes from the next trial; answered by :class:`ParamsResult` with ``id``."""

    id: int
    changes: dict[str, Any]


@dataclass(frozen=True)
class LaserOff:
    """Emergency: latch the laser off within one loop iteration; the session goes on."""

    source: str = "operator"


@dataclass(frozen=True)
class RearmLaser:
    """Lift the emergency latch: laser trials get light again from their next onset."""

    source: str = "operator"


EngineCommand = Pause | Finish | Stop | SetParams | LaserOff | RearmLaser

# --- parent → manual child ----------------------------------------------------------------------


@dataclass(frozen=True)
class ValvePulse:
    op: ClassVar[str] = "valve_pulse"
    side: str
    open_ms: float
    count: int = 1
    interval_s: float = 0.3


@dataclass(frozen=True)
class Flush:
    op: ClassVar[str] = "flush"
    side: str
    seconds: float


@dataclass(frozen=True)
class LaserPulse:
    op: ClassVar[str] = "laser_pulse"
    mw: float
    seconds: float
    laser: str | None = None  #: which laser (None: the first)


@dataclass(frozen=True)
class CalibrateValve:
    op: ClassVar[str] = "calibrate_valve"
    side: str
    times_ms: list[float]
    openings: int
    interval_s: float


@dataclass(frozen=True)
class CalibrateLaser:
    op: ClassVar[str] = "calibrate_laser"
    commands: list[float]
    on_s: float
    laser: str | None = None  #: which laser (None: the first)


ManualOp = ValvePulse | Flush | LaserPulse | CalibrateValve | CalibrateLaser


@dataclass(frozen=True)
class Measurement:
    """The operator's reading for the calibration step waiting for it."""

    value: float


@dataclass(frozen=True)
class Cancel:
    """Stop the operation in progress (its outputs go off); also the emergency laser-off."""


@dataclass(frozen=True)
class Close:
    """Cancel, turn everything off, close the rig and exit."""


ManualCommand = ManualOp | Measurement | Cancel | Close

# --- child → parent -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ready:
    """The session folder exists and the loop is about to run."""

    folder: str
    rig: str
    protocol: str
    n_trials: int
    realtime: bool
    seed: int
    pid: int
    threshold: float | None
    tracked: str | None
    has_signal: bool
    has_laser: bool
    #: the task's trial record: the columns of every ``Trial.record`` that follows, and which
    #: is the outcome and which the condition (the live view's counters and strips)
    trial_schema: TrialSchema
    #: the rig's reward ports (lick sides), in config order
    ports: tuple[str, ...] = ()
    frame_clocks: tuple[str, ...] = ()  # frame-clock inputs, counted by :class:`Frames`


@dataclass(frozen=True)
class Event:
    """One engine event (state, input, output, trial, params, session, interlock, ...)."""

    t: float
    kind: str
    name: str
    value: str


@dataclass(frozen=True)
class Frames:
    """Frames counted so far on frame-clock input ``name`` (every ~0.25 s of session time
    while frames arrive, and at the end); the frames themselves are in frames_<name>.bin."""

    name: str
    count: int
    t: float


@dataclass(frozen=True)
class Trial:
    """A completed trial's row (TrialRecord as a dict) and the protocol's progress numbers."""

    record: dict[str, Any]
    progress: dict[str, float]


@dataclass(frozen=True)
class Signal:
    """Decimated signal rows, columns ``remote.SIGNAL_COLUMNS`` (made by ``poll``)."""

    rows: np.ndarray


@dataclass(frozen=True)
class Clock:
    """The engine's time when the batch left (made by ``poll``)."""

    t: float


@dataclass(frozen=True)
class Dropped:
    """Signal rows dropped so far because the GUI did not read (the data on disk are whole)."""

    n: int


@dataclass(frozen=True)
class ParamsResult:
    id: int
    problems: list[str]  # empty: accepted, from the next trial


@dataclass(frozen=True)
class LaserLatch:
    """After every emergency press and re-arm: the engine's latch state (not the GUI's)."""

    latched: bool
    t: float
    value: str


@dataclass(frozen=True)
class Ended:
    status: str
    reason: str
    n_trials: int
    progress: dict[str, float]
    folder: str
    #: the loop's input→output and timer lateness (wall clock only), as session.json has it
    timing: dict[str, Any] | None = None


@dataclass(frozen=True)
class Crashed:
    """The session raised; outputs are off and the folder says what was kept."""

    message: str
    traceback: str
    folder: str
    status: str


@dataclass(frozen=True)
class Failed:
    """Could not start (engine) or open the rig (manual): nothing was written or left on."""

    problems: list[str]


@dataclass(frozen=True)
class Summary:
    table: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    figure: str | None = None
    figure_error: str = ""


@dataclass(frozen=True)
class LaserLimits:
    """One laser of a manually controlled rig: its command unit and interlocks."""

    name: str
    unit: str
    max_power_mw: float
    max_on_s: float


@dataclass(frozen=True)
class ManualReady:
    rig: str
    sides: list[str]
    has_laser: bool
    laser_unit: str  #: of the first laser; ``lasers`` has each one's
    max_power_mw: float | None
    max_on_s: float | None
    max_open_s: dict[str, float]
    calibrated_laser: bool
    lasers: list[LaserLimits] = field(default_factory=list)


@dataclass(frozen=True)
class Input:
    """A sensor edge seen by the manual rig."""

    t: float
    name: str
    value: float


@dataclass(frozen=True)
class Progress:
    op: str
    done: float
    total: float
    step: int | None = None


@dataclass(frozen=True)
class CalStep:
    """A calibration step is done and waits for its :class:`Measurement`."""

    op: str
    step: dict[str, Any]


@dataclass(frozen=True)
class OpDone:
    op: str
    result: Any


@dataclass(frozen=True)
class OpError:
    op: str
    message: str
    traceback: str = ""


@dataclass(frozen=True)
class Closed:
    """The manual rig is closed; ``failures``: outputs that did not turn off."""

    failures: list[str]


Report = (Ready | Event | Frames | Trial | Signal | Clock | Dropped | ParamsResult | LaserLatch
          | Ended | Crashed | Failed | Summary | ManualReady | Input | Progress | CalStep | OpDone
          | OpError | Closed)
