"""A session: config + backend + protocol + writer, run to an end that is always safe.

Everything that can be checked is checked before the session folder exists (config, protocol
parameters against the rig's interlocks and calibration), so a refused session leaves nothing
behind. Once the folder exists, every exit path (completion, stop, exception, signal) turns the
laser off, closes the valves and records the final status.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import inspect
import secrets
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

import rigctl
from rigctl.config.agent import AgentChoice
from rigctl.config.rig import RigConfig
from rigctl.config.subject import Subject
from rigctl.data.analog import analog_file
from rigctl.data.signals import SignalWriter
from rigctl.data.subject_state import append_history, read_state, save_state
from rigctl.data.writer import SessionWriter, create_session
from rigctl.engine.analog import AnalogRecorder
from rigctl.engine.coverage import Coverage
from rigctl.engine.frames import FrameClocks
from rigctl.engine.loop import ControlLoop
from rigctl.engine.requests import LoopRequests
from rigctl.engine.sync import build_sync
from rigctl.errors import DataError, RigctlError, SimulationStalled, TaskError
from rigctl.hardware.rig import open_rig
from rigctl.predictor.settings import PredictorSettings
from rigctl.protocols.base import Protocol, ProtocolContext
from rigctl.protocols.spec import ProtocolSpec
from rigctl.protocols.static_check import task_graph
from rigctl.protocols.trial import TrialRecord, trial_schema
from rigctl.runtime.analog import AnalogInputs
from rigctl.runtime.controls import SessionControls
from rigctl.runtime.machine import StateMachine
from rigctl.runtime.signals import CHANNELS, SignalPipeline
from rigctl.timing.clock import VirtualClock, WallClock
from rigctl.timing.timers import Timers


@dataclass
class SessionOptions:
    subject: Subject
    protocol: ProtocolSpec
    data_root: Path
    seed: int | None = None
    realtime: bool = False
    config_source: str = "<config>"
    summary_figure: bool = True  # write summary.png at the end (cohorts skip it: ~1 s each)
    agent: str = "auto"  # simulated subject: auto, working_memory, generic or an agent file
    #: end the session after this much session time, as the protocol's own finish (status
    #: completed; pyControl's run_end runs): sessions without trials, and timed soaks
    duration_s: float | None = None
    #: hold the subject's lock (and a real rig's) in the data root while the session runs, so
    #: the same mouse cannot be started twice (``rigctl run``, a GUI tab); off where the caller
    #: holds them (an experiment takes every lock before any rig starts) or for many
    #: simulated mice at once (cohorts, power)
    lock: bool = False


@dataclass
class SessionResult:
    folder: Path
    status: str
    reason: str
    n_trials: int
    progress: dict[str, float] = field(default_factory=dict)
    figure: Path | None = None
    figure_error: str = ""
    frames: dict[str, int] = field(default_factory=dict)  # per frame-clock input
    #: how late the loop answered inputs and timers (wall clock only; see rigctl.timing.lateness)
    timing: dict[str, Any] | None = None


class Session:
    """Prepare with the constructor (may raise RigctlError, leaves no files), then ``run``."""

    def __init__(self, cfg: RigConfig, opts: SessionOptions) -> None:
        self.cfg = cfg
        self.opts = opts
        self.seed = opts.seed if opts.seed is not None else secrets.randbits(32)
        self.clock = WallClock() if opts.realtime else VirtualClock()
        self.timers = Timers()
        self.writer: SessionWriter | None = None
        self.trial_listeners: list[Callable[[TrialRecord, dict[str, float]], None]] = []
        self.event_listeners: list[Callable[[float, str, str, str], None]] = []
        self.controls = SessionControls()
        self._locks: list[Any] = []
        self.notes: list[str] = []  # for the operator: a stale lock taken over
        self._early_stop = ""
        cls = opts.protocol.cls
        self.coverage = Coverage(cls.states, task_graph(cls), cls.operator_states)
        self.event_listeners.append(self.coverage.listener)
        seeds = np.random.SeedSequence(self.seed).spawn(2)
        spec = opts.protocol
        agent = AgentChoice(kind=opts.agent, mapping=spec.cls.agent, task_source=spec.source)
        self.rig = open_rig(cfg, self.clock, self.timers, self._log, subject=opts.subject,
                            seed=seeds[1], source=opts.config_source, agent=agent)
        try:
            self.sync = build_sync(cfg, self.rig.devices, self.clock, self.timers, self._log,
                                   self.seed)
            if self.sync is not None:
                self.event_listeners.append(self.sync.on_event)
            problems = spec.cls.rig_problems(spec.params, self.rig)
            if problems:
                raise RigctlError("\n".join(f"{spec.source}: {p}" for p in problems))
            self.signals: SignalPipeline | None = None
            if cfg.neural_signal is not None:
                settings = getattr(spec.params, "predictor", None) or PredictorSettings()
                try:
                    settings.build(cfg.neural_signal.rate_hz)
                except ValueError as exc:
                    raise RigctlError(f"{spec.source}: predictor: {exc}") from None
                self.signals = SignalPipeline(
                    settings, cfg.neural_signal.rate_hz, self.clock, self.rig.events,
                    laser=self._laser_state, dispatch=lambda ev: self.loop.handle_input(ev),
                    log=self._log,
                )
            self.state_before: dict[str, Any] | None = None
            state = None
            if cls.State is not None:
                state = read_state(cls.State, opts.data_root, opts.subject.id)
                self.state_before = state.model_dump(mode="json")
            self.analog = AnalogInputs(self._log) if cfg.analog_inputs else None
            ctx = ProtocolContext(
                rig=self.rig, machine=None,  # type: ignore[arg-type]  # set once states exist
                clock=self.clock,
                rng=np.random.default_rng(seeds[0]), log=self._log, write_trial=self._write_trial,
                signals=self.signals, controls=self.controls, state=state, analog=self.analog,
            )
            self.protocol: Protocol = spec.cls(spec.params, ctx)
            self.machine = StateMachine(self.clock, self.timers, self.protocol.handlers(),
                                        log=self._log)
            ctx.machine = self.machine
            self.requests = LoopRequests(self.rig.events)  # the laser latch enters here
            self.loop = ControlLoop(self.clock, self.requests, self.timers, self.machine,
                                    self._log, stall_s=cfg.stall_warning_s)
            self.loop.signals = self.signals
            self.frames = FrameClocks(cfg.frame_clocks())
            if self.frames:
                self.loop.frames = self.frames
            self.loop.analog = self.analog
            if opts.duration_s is not None:
                if not opts.duration_s > 0:
                    raise RigctlError(f"duration: must be > 0 s (got {opts.duration_s})")
                self.timers.set_at(self.clock.now() + opts.duration_s, self.protocol.finish)
        except BaseException:
            self.rig.close()
            raise

    def _task_file(self) -> str | None:
        try:
            return inspect.getsourcefile(self.opts.protocol.cls)
        except TypeError:
            return None

    def _laser_state(self) -> tuple[float, float]:
        """(commanded mW of every laser together, mean duty over the lasers): the predictor
        models one population, which each laser inhibits its share of (as the simulated
        world does); one laser gives its own power and duty."""
        lasers = list(self.rig.lasers.values())
        if not lasers:
            return 0.0, 0.0
        return (sum(la.power_mw for la in lasers), sum(la.duty for la in lasers) / len(lasers))

    # --- callbacks ------------------------------------------------------------------------
    def _log(self, t: float, kind: str, name: str, value: str,
             device_t: float | None = None) -> None:
        if self.writer is not None and not self.writer.closed:
            self.writer.log_event(t, kind, name, value, device_t)
        for listener in self.event_listeners:
            listener(t, kind, name, value)

    def _write_trial(self, rec: TrialRecord) -> None:
        assert self.writer is not None
        self.writer.write_trial(rec)
        progress = self.protocol.progress()
        for listener in self.trial_listeners:
            listener(rec, progress)

    def request_params(self, changes: dict[str, Any]) -> list[str]:
        """Validate parameter changes now; if valid they apply from the next trial.

        Returns one line per problem (field-naming); an empty list means accepted. Thread-safe.
        """
        from rigctl.config.loading import format_validation_error

        spec = self.opts.protocol
        if "predictor" in changes:
            return ["predictor: the predictor cannot change during a session"]
        current = self.protocol.p.model_dump()
        try:
            new = spec.cls.Params.model_validate({**current, **changes})
        except ValidationError as exc:
            return format_validation_error(exc)
        problems = spec.cls.rig_problems(new, self.rig)
        if not problems:
            self.controls.offer_params(new)
        return problems

    def request_pause(self, paused: bool) -> None:
        """Hold (or release) the session at the next trial boundary. Thread-safe."""
        self.controls.set_paused(paused)
        self.rig.events.wake()

    def request_finish(self, reason: str) -> None:
        """End after the trial in progress (status ``aborted``, reason recorded). Thread-safe:
        what the engine does when its GUI goes away."""
        self.controls.finish_after_trial(reason)
        self.rig.events.wake()

    def request_stop(self, reason: str) -> None:
        """Thread- and signal-safe: end after the current event; outputs off, status aborted."""
        self._early_stop = self._early_stop or reason
        self.loop.request_stop(reason)

    def request_laser_off(self, source: str) -> None:
        """Emergency laser-off for every laser, thread-safe: latched in the loop thread before
        its next event (light off at once, no ramp); the session goes on, laser trials record
        ``laser_blocked``, until ``rearm_laser``. Every press is logged."""
        self.requests.submit(lambda: self._latch(source, rearm=False))

    def rearm_laser(self, source: str) -> None:
        """Lift the emergency latch (thread-safe, applied in the loop thread, logged)."""
        self.requests.submit(lambda: self._latch(source, rearm=True))

    def _latch(self, source: str, rearm: bool) -> None:
        if not self.rig.lasers:
            self._log(self.clock.now(), "warning", "laser_latch", f"{source}: rig has no laser")
        problems = []
        for name, laser in self.rig.lasers.items():  # each one, even when one fails
            try:
                laser.rearm(source) if rearm else laser.latch(source)
            except Exception as exc:  # noqa: BLE001 - the next laser must go off too
                problems.append(f"{name}: {type(exc).__name__}: {exc}")
        if problems:
            raise RigctlError("laser latch: " + "; ".join(problems))

    # --- running --------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        spec = self.opts.protocol
        return {
            "rigctl_version": rigctl.__version__,
            "subject": self.opts.subject.model_dump(),
            "protocol": {
                "name": spec.name, "source": spec.source, "sha256": spec.sha256,
                "parameters": spec.params.model_dump(mode="json"),
                **({"task_file": spec.task_file} if spec.task_file else {}),
            },
            "trial_schema": trial_schema(spec.cls.Trial),
            "agent": self.opts.agent if self.rig.simulated else None,
            "rig": self.cfg.model_dump(mode="json"),
            "config_source": self.opts.config_source,
            "seed": self.seed,
            "clock": "wall" if self.opts.realtime else "virtual",
            **({"duration_s": self.opts.duration_s} if self.opts.duration_s is not None
               else {}),
            **({"subject_state_at_start": self.state_before}
               if self.state_before is not None else {}),
            **({"analog_inputs": {
                name: {"file": analog_file(name), "channel": a.channel, "rate_hz": a.rate_hz,
                       "unit": a.unit, "description": a.description}
                for name, a in self.cfg.analog_inputs.items()}} if self.cfg.analog_inputs
               else {}),
        }

    def open(self) -> Path:
        """Create the session folder, unique across rigs and within a second (DataError if it
        cannot be written)."""
        started = dt.datetime.now()
        try:
            self._take_locks()
            self.writer = create_session(self.opts.data_root, self.opts.subject.id,
                                         self.opts.protocol.name, self.cfg.name,
                                         self.metadata(), started,
                                         trial_type=self.opts.protocol.cls.Trial)
            folder = self.writer.folder
            for note in self.notes:
                self._log(self.clock.now(), "warning", "lock", note)
            if self.signals is not None:
                self._record_signals(self.writer.open_signals(CHANNELS, self.signals.rate_hz))
            for name, inp in self.cfg.frame_clocks().items():
                self.frames.attach(name, self.writer.open_frames(name, inp.channel))
            self._record_analog(self.writer)
        except BaseException:
            self._release_locks()
            self.rig.close()
            raise
        return folder

    def _take_locks(self) -> None:
        """The subject's lock, and the rig's when it is real (a simulated rig is not a place:
        two simulations of it may run at once), as ``rigctl experiment`` takes them."""
        if not self.opts.lock:
            return
        from rigctl.data.locks import acquire

        what = f"rigctl session {self.opts.protocol.name} ({self.opts.config_source})"
        kinds = [("subject", self.opts.subject.id)]
        if not self.rig.simulated:
            kinds.append(("rig", self.cfg.name))
        for kind, name in kinds:
            lock = acquire(self.opts.data_root, kind, name, what)
            self._locks.append(lock)
            if lock.stale_note:
                self.notes.append(lock.stale_note)

    def _release_locks(self) -> None:
        for lock in self._locks:
            lock.release()
        self._locks.clear()

    def _record_signals(self, sig: SignalWriter) -> None:
        def record(first: int, block: np.ndarray) -> None:
            if first > sig.n_samples:  # a gap in the input: keep the file on time with NaN
                sig.pad_to(first)
            sig.append(first, block)

        assert self.signals is not None
        self.signals.recorders.append(record)

    def _record_analog(self, writer: SessionWriter) -> None:
        """Every named analog input to its own ``analog_<name>.bin`` (opened at its first
        chunk, with the device's time of its first sample)."""
        if self.analog is None:
            return
        for name, a in self.cfg.analog_inputs.items():
            def open_writer(t0_s: float, name: str = name, rate: float = a.rate_hz,
                            unit: str = a.unit) -> SignalWriter:
                return writer.open_analog(name, rate, t0_s, unit)

            self.analog.listen(name, AnalogRecorder(open_writer))

    def run(self) -> SessionResult:
        """Run to completion or stop; always ends with outputs off and a final status."""
        if self.writer is None:
            self.open()
        writer = self.writer
        assert writer is not None
        status, reason = "aborted", ""
        failed: BaseException | None = None
        try:
            if not self._early_stop:
                self.rig.start()
                if self.sync is not None:
                    self.sync.start()
                self.machine.start(self.protocol.initial_state)
                self.loop.run()
            if self.loop.stop_requested.is_set() or self._early_stop:
                reason = self.loop.stop_reason or self._early_stop
            elif self.controls.finish_reason:
                reason = self.controls.finish_reason
            else:
                status = "completed"
        except BaseException as exc:
            failed = exc
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            stalled = isinstance(exc, SimulationStalled)
            if stalled:
                reason = f"{exc}; stalled in state {self.machine.state!r}"
            where = "" if stalled else _where(exc, self._task_file())
            with contextlib.suppress(Exception):  # the full story, for the one who fixes it
                (writer.folder / ERROR_FILE).write_text(
                    "".join(traceback.format_exception(exc)), encoding="utf-8")
            if where:
                reason = f"{reason} (at {where})"
            with contextlib.suppress(Exception):  # the disk may be what failed
                self._log(self.clock.now(), "error", type(exc).__name__, reason)
            if isinstance(exc, OSError):
                raise DataError(f"{writer.folder}: {exc.strerror or exc}; session stopped, "
                                "outputs off, completed trials kept") from exc
            if isinstance(exc, DataError):
                raise DataError(f"{exc}; session stopped, outputs off, completed trials "
                                "kept") from exc
            if stalled:
                raise SimulationStalled(f"{reason}; session aborted, outputs off, completed "
                                        "trials kept") from exc
            if self.opts.protocol.file is not None and not isinstance(exc, RigctlError) \
                    and where.startswith(self.opts.protocol.file.path):
                # A bug in the user's task file: one line for the operator, not a traceback.
                raise TaskError(f"{where}: {type(exc).__name__}: {exc}; session aborted, outputs "
                                f"off, traceback in {writer.folder / ERROR_FILE}") from exc
            raise
        finally:
            try:
                self._shutdown(status, reason)  # outputs off first, before any state file
                if failed is not None:
                    self._state_not_saved(writer.folder, failed)
            finally:
                if failed is not None:
                    self._release_locks()
        try:
            self._save_state(writer.folder, status)
        finally:
            self._release_locks()  # after the subject's state is saved: the next session reads it
        result = SessionResult(writer.folder, status, reason, writer.n_trials,
                               self.protocol.progress(), frames=dict(self.frames.counts),
                               timing=writer.metadata.get("timing"))
        if self.opts.summary_figure and writer.n_trials:
            try:
                from rigctl.data.figures import save_summary_figure

                result.figure = save_summary_figure(writer.folder)
            except Exception as exc:  # noqa: BLE001 - a figure must never fail a session
                result.figure_error = f"{type(exc).__name__}: {exc}"
        return result

    def _save_state(self, folder: Path, status: str) -> None:
        """The subject's state after a session that ended without an exception (completed or
        stopped): atomically, with its history line."""
        state = getattr(self.protocol, "state", None)
        if self.state_before is None or state is None:
            return
        save_state(state, self.state_before, self.opts.data_root, self.opts.subject.id,
                   folder, status)

    def _state_not_saved(self, folder: Path, exc: BaseException) -> None:
        if self.state_before is None:
            return
        with contextlib.suppress(Exception):  # the disk may be what failed
            append_history(self.opts.data_root, self.opts.subject.id, {
                "session": str(folder), "status": "aborted", "saved": False,
                "why": f"{type(exc).__name__}: {exc}".splitlines()[0][:300],
                "before": self.state_before})

    def _shutdown(self, status: str, reason: str) -> None:
        failures = self.rig.all_off()  # first, before anything that could fail
        if self.sync is not None:
            failures += self.sync.stop()
        now = self.clock.now()
        with contextlib.suppress(Exception):  # a full disk must not stop the shutdown
            self._log(now, "output", "all_off", "laser off, valves closed")
            for f in failures:
                self._log(now, "error", "all_off", f)
        with contextlib.suppress(Exception):  # the live count's last word
            self.frames.close(now)
        if self.loop.timing is not None and self.writer is not None:
            self.writer.metadata["timing"] = self.loop.timing.summary()
        try:
            self.machine.finished = True
            self.rig.close()
            self.rig.events.close()
        finally:
            with contextlib.suppress(Exception):  # a report must never block the close
                assert self.writer is not None
                self.coverage.write(self.writer.folder)
            assert self.writer is not None
            self.writer.close(status, reason if not failures else f"{reason}; {failures}")


ERROR_FILE = "error.txt"  # the traceback of an error that ended the session


def _where(exc: BaseException, task_file: str | None = None) -> str:
    """``file.py:line in function`` where ``exc`` was raised: for a bug in task code, the line
    of the task file the operator needs to see (the deepest frame in that file)."""
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    own = [f for f in frames if task_file and f.filename == task_file]
    f = own[-1] if own else frames[-1]
    name = f.filename if own else Path(f.filename).name
    return f"{name}:{f.lineno} in {f.name}"
