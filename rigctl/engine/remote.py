"""A rig's engine in a child process, driven by messages (DESIGN.md "Processes").

The GUI runs every rig in its own child process so that plotting can never stall the control
loop, a GUI crash never ends a session or loses its data, and several rigs run side by side.
This module has no Qt in it: the parent side (:class:`EngineProcess`, :class:`ManualProcess`) is
a plain handle with ``send`` and a non-blocking ``poll``; a GUI calls ``poll`` from a timer.

Two kinds of child exist:

- an **engine** child runs one :class:`~rigctl.engine.session.Session` from a
  :class:`StartRequest` and exits when the session has ended (and its summary is written);
- a **manual** child opens the rig with :class:`~rigctl.engine.manual.ManualRig` for the
  device panel and the calibration dialogs (valve pulses, flushes, laser test pulses, live
  sensors) and exits when told to close. A rig is opened by one child at a time.

Messages in both directions are the frozen dataclasses of :mod:`rigctl.engine.messages`:
commands (``Pause``, ``Finish``, ``Stop``, ``SetParams``, ``LaserOff``, ``RearmLaser`` for an
engine child; ``ValvePulse``, ``Flush``, ``LaserPulse``, ``CalibrateValve``, ``CalibrateLaser``,
``Measurement``, ``Cancel``, ``Close`` for a manual child) and reports, as ``poll()`` returns
them (``Ready``, ``Event``, ``Trial`` (never dropped), ``Signal`` (float64 rows of
``SIGNAL_COLUMNS`` decimated to ``StartRequest.signal_hz``: mean, min and max of each bin;
laser: max; coalesced, or dropped oldest-first when the GUI falls behind), ``Clock``,
``Dropped``, ``ParamsResult``, ``LaserLatch``, ``Ended``, ``Crashed``, ``Failed``, ``Summary``;
``ManualReady``, ``Input``, ``Progress``, ``CalStep``, ``OpDone``, ``OpError``, ``Closed``).
A child dispatches on the command's class, so a command it does not know is reported as a
``warning`` event naming it, and a misspelt command fails at the sender.

The child never blocks on the pipe: callbacks of the control loop only append to an in-memory
outbox, and a sender thread ships it in batches every ``BATCH_S``. Trial results and events are
never dropped; decimated signal rows are coalesced into the next batch and, if the pipe stays
full (the GUI is frozen), only the newest ``SIGNAL_KEEP_S`` seconds are kept.

When the parent goes away (the pipe reaches EOF, a send fails, or the parent pid changes) the
engine child calls ``request_finish("GUI closed")``: the trial in progress completes, outputs go
off and the session is marked ``aborted`` with that reason. A manual child cancels its operation
and closes the rig.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import itertools
import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import numpy as np

from rigctl.engine import messages as m
from rigctl.protocols.trial import TrialSchema

#: columns of a decimated signal message
SIGNAL_COLUMNS = ("t_s", "neural_mean", "neural_min", "neural_max", "calcium",
                  "gliotransmission", "laser_mw")
#: how often the sender thread ships a batch (s)
BATCH_S = 0.03
#: decimated signal kept while the pipe is full (s of signal)
SIGNAL_KEEP_S = 30.0
#: how often the child checks that its parent still exists (s)
PARENT_CHECK_S = 0.5

Message = m.Report


@dataclass(frozen=True)
class StartRequest:
    """Everything an engine child needs to run one session (picklable)."""

    config: str
    protocol: str
    params: dict[str, Any]
    subject: dict[str, Any] = field(default_factory=dict)
    data_root: str = "data"
    seed: int | None = None
    realtime: bool = True
    #: decimated rate of the signal messages (Hz)
    signal_hz: float = 100.0
    #: write the summary PNG (needs matplotlib) into the session folder at the end
    summary_figure: bool = True
    #: end after this much session time (s), as the protocol's own finish (status completed)
    duration_s: float | None = None
    #: hold the subject's (and a real rig's) lock while the session runs; an experiment holds
    #: every lock itself and asks its engines not to
    lock: bool = True


@dataclass(frozen=True)
class ManualRequest:
    """What a manual child opens: the rig config, and whether the laser is calibrated."""

    config: str
    calibrated_laser: bool = True


# --- the child side ----------------------------------------------------------------------------


class SignalBuffer:
    """Decimated signal rows waiting for the sender; keeps only the newest ``keep_rows``.

    Appending never blocks the control loop for longer than a short lock; when the GUI does not
    read (the pipe is full), old rows are dropped rather than the loop slowed down.
    """

    def __init__(self, keep_rows: int) -> None:
        self.keep_rows = max(1, keep_rows)
        self._lock = threading.Lock()
        self._blocks: collections.deque[np.ndarray] = collections.deque()
        self._rows = 0
        self.dropped = 0

    def add(self, rows: np.ndarray) -> None:
        with self._lock:
            self._blocks.append(rows)
            self._rows += len(rows)
            while self._rows - len(self._blocks[0]) >= self.keep_rows:
                old = self._blocks.popleft()
                self._rows -= len(old)
                self.dropped += len(old)

    def take(self) -> np.ndarray | None:
        with self._lock:
            if not self._blocks:
                return None
            blocks, self._blocks = self._blocks, collections.deque()
            self._rows = 0
        return np.concatenate(list(blocks)) if len(blocks) > 1 else blocks[0]


class Decimator:
    """A signal recorder (``fn(first_sample, block)``) that bins samples to ``out_hz``.

    On a rig, chunks arrive one millisecond at a time, so the per-call cost is an append; a bin's
    statistics are computed once it is complete. Bins are aligned to absolute sample numbers so a
    gap restarts the binning cleanly instead of smearing two stretches together.
    """

    def __init__(self, rate_hz: float, out_hz: float, sink: Callable[[np.ndarray], None]) -> None:
        self.rate_hz = rate_hz
        self.factor = max(1, int(round(rate_hz / max(out_hz, 1e-9))))
        self.sink = sink
        self._pending: list[np.ndarray] = []
        self._n = 0
        self._start = 0  # sample number of the first pending sample

    def __call__(self, first: int, block: np.ndarray) -> None:
        if self._n and first != self._start + self._n:
            self._pending.clear()  # a gap or a restart: drop the partial bin
            self._n = 0
        if not self._n:
            self._start = first
        self._pending.append(block)
        self._n += len(block)
        if self._n >= self.factor:
            self._flush()

    def _flush(self) -> None:
        data = self._pending[0] if len(self._pending) == 1 else np.concatenate(self._pending)
        f = self.factor
        nb = len(data) // f
        bins = data[: nb * f].reshape(nb, f, data.shape[1]).astype(np.float64)
        out = np.empty((nb, len(SIGNAL_COLUMNS)))
        out[:, 0] = (self._start + np.arange(nb) * f) / self.rate_hz
        out[:, 1] = bins[:, :, 0].mean(axis=1)
        out[:, 2] = bins[:, :, 0].min(axis=1)
        out[:, 3] = bins[:, :, 0].max(axis=1)
        out[:, 4] = bins[:, :, 1].mean(axis=1)
        out[:, 5] = bins[:, :, 2].mean(axis=1)
        out[:, 6] = bins[:, :, 3].max(axis=1)
        rest = data[nb * f:]
        self._start += nb * f
        self._pending = [rest] if len(rest) else []
        self._n = len(rest)
        self.sink(out)


class Outbox:
    """Messages from the child to its parent, shipped in batches by a daemon thread.

    ``put`` is what control-loop callbacks call: an append and nothing else, so the loop never
    waits for the pipe. ``on_parent_gone`` runs once (in the sender thread) when a send fails.
    """

    def __init__(
        self, conn: Connection, clock: Callable[[], float] | None = None,
        keep_rows: int = 3000,
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.signals = SignalBuffer(keep_rows)
        self.on_parent_gone: Callable[[], None] | None = None
        self.parent_gone = threading.Event()
        self._msgs: collections.deque[Message] = collections.deque()
        self._closing = threading.Event()
        self._idle = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rigctl-outbox", daemon=True)
        self._thread.start()

    def put(self, msg: Message) -> None:
        self._msgs.append(msg)

    def _batch(self) -> dict[str, Any] | None:
        msgs = []
        while self._msgs:
            msgs.append(self._msgs.popleft())
        sig = self.signals.take()
        if not msgs and sig is None:
            return None
        batch: dict[str, Any] = {"msgs": msgs, "signal": sig, "dropped": self.signals.dropped}
        if self.clock is not None:
            batch["clock"] = self.clock()
        return batch

    def _run(self) -> None:
        while True:
            closing = self._closing.is_set()
            batch = self._batch()
            if batch is not None and not self.parent_gone.is_set():
                try:
                    self.conn.send(("batch", batch))
                except (OSError, EOFError, ValueError):
                    self.gone()
            if closing and not self._msgs:
                self._idle.set()
                return
            time.sleep(BATCH_S)

    def gone(self) -> None:
        """The parent is gone: stop sending and tell the owner (once)."""
        if self.parent_gone.is_set():
            return
        self.parent_gone.set()
        if self.on_parent_gone is not None:
            self.on_parent_gone()

    def close(self, timeout: float = 30.0) -> None:
        """Ship what is left (waiting at most ``timeout`` while the parent exists)."""
        self._closing.set()
        self._idle.wait(0.0 if self.parent_gone.is_set() else timeout)


def _read_commands(
    conn: Connection, parent_pid: int, handle: Callable[[Any], None],
    parent_gone: Callable[[], None], stop: threading.Event,
) -> None:
    """Deliver commands until EOF or until the parent process disappears."""
    while not stop.is_set():
        try:
            ready = conn.poll(PARENT_CHECK_S)
            if not ready:
                if os.getppid() != parent_pid:
                    break
                continue
            cmd = conn.recv()
        except (EOFError, OSError):
            break
        try:
            handle(cmd)
        except Exception:  # noqa: BLE001 - a bad command must not kill the reader
            traceback.print_exc()
    if not stop.is_set():
        parent_gone()


def _problems(exc: BaseException) -> list[str]:
    from rigctl.errors import ConfigError

    if isinstance(exc, ConfigError):
        return [f"{exc.source}: {p}" for p in exc.problems]
    return str(exc).splitlines() or [type(exc).__name__]


def _build_session(req: StartRequest):  # type: ignore[no-untyped-def]
    """Config, protocol, subject → an opened Session (RigctlError leaves nothing on disk)."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import load_rig
    from rigctl.config.loading import validate
    from rigctl.config.subject import Subject
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(req.config)
    # The one task discovery (names, installed tasks, task files) and its static check.
    spec = resolve_protocol(req.protocol, cfg, req.config)
    params = validate(spec.cls.Params, req.params, "parameters")
    spec = dataclasses.replace(spec, params=params,
                               source=f"{spec.source} (parameters set in the GUI)")
    subject = validate(Subject, req.subject, "subject")
    session = Session(cfg, SessionOptions(
        subject=subject, protocol=spec, data_root=Path(req.data_root), seed=req.seed,
        realtime=req.realtime, config_source=req.config, duration_s=req.duration_s,
        lock=req.lock,
    ))
    session.open()
    return session


def _summary(folder: Path, figure: bool) -> dict[str, Any]:
    """The end-of-session table and figure, made here so the GUI never waits for matplotlib."""
    out: dict[str, Any] = {"table": "", "rows": [], "figure": None, "figure_error": ""}
    try:
        from rigctl.data.summary import accuracy_table, summary_table

        out["table"] = summary_table(folder)
        from rigctl.data import load_session

        tab = accuracy_table(load_session(folder, events=False).trials).reset_index()
        out["rows"] = tab.to_dict("records")
    except Exception as exc:  # noqa: BLE001 - a summary problem must not hide the session end
        out["table"] = f"summary unavailable: {exc}"
    if figure:
        try:
            from rigctl.data.figures import save_summary_figure
        except ImportError as exc:
            out["figure_error"] = f"summary figure unavailable: {exc}"
        else:
            try:
                out["figure"] = str(save_summary_figure(folder))
            except Exception as exc:  # noqa: BLE001
                out["figure_error"] = f"summary figure failed: {exc}"
    return out


def _detach_from_terminal() -> None:
    """Leave the terminal's process group: Ctrl-C or a closed terminal (SIGINT, SIGHUP) reach
    the GUI, not the child, which then learns of it the one safe way — its parent going away —
    and finishes its trial instead of dying mid-trial."""
    if hasattr(os, "setsid"):
        with contextlib.suppress(OSError):
            os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def engine_main(conn: Connection, req: StartRequest, parent_pid: int) -> None:
    """Entry point of an engine child: run one session, report it, exit."""
    _detach_from_terminal()
    out = Outbox(conn)
    try:
        session = _build_session(req)
    except Exception as exc:  # noqa: BLE001 - reported to the GUI, nothing was started
        from rigctl.errors import RigctlError

        if isinstance(exc, RigctlError):
            out.put(m.Failed(_problems(exc)))
        else:
            traceback.print_exc()
            out.put(m.Failed([f"{type(exc).__name__}: {exc}"]))
        out.close(timeout=10)
        conn.close()
        return
    assert session.writer is not None
    folder = session.writer.folder
    out.clock = session.clock.now
    stop_reader = threading.Event()

    out.on_parent_gone = lambda: session.request_finish("GUI closed")

    def handle(cmd: Any) -> None:
        match cmd:
            case m.Pause(paused):
                session.request_pause(bool(paused))
            case m.Finish(reason):
                session.request_finish(reason)
            case m.Stop(reason):
                session.request_stop(reason)
            case m.LaserOff(source):
                _emergency_laser_off(session, source)
            case m.RearmLaser(source):
                session.rearm_laser(source)
            case m.SetParams(rid, changes):
                out.put(m.ParamsResult(rid, session.request_params(dict(changes))))
            case _:
                out.put(m.Event(session.clock.now(), "warning", "remote",
                                f"unknown command {type(cmd).__name__}"))

    spec = session.opts.protocol
    predictor = getattr(spec.params, "predictor", None)
    session.event_listeners.append(lambda t, k, n, v: out.put(m.Event(t, k, n, v)))

    def latch_state(t: float, kind: str, name: str, value: str) -> None:
        laser = session.rig.laser
        if name == "laser_latch" and laser is not None and "refused" not in value:
            out.put(m.LaserLatch(laser.latched, t, value))

    session.event_listeners.append(latch_state)
    session.frames.listeners.append(lambda name, n, t: out.put(m.Frames(name, n, t)))
    session.trial_listeners.append(
        lambda rec, progress: out.put(m.Trial(asdict(rec), dict(progress)))
    )
    if session.signals is not None:
        rate = session.signals.rate_hz
        out.signals.keep_rows = int(SIGNAL_KEEP_S * min(req.signal_hz, rate))
        session.signals.recorders.append(Decimator(rate, req.signal_hz, out.signals.add))
    out.put(m.Ready(
        folder=str(folder), rig=session.cfg.name, protocol=spec.name,
        n_trials=int(getattr(spec.params, "n_trials", 0)), realtime=req.realtime,
        seed=session.seed, pid=os.getpid(),
        threshold=None if predictor is None else float(predictor.threshold),
        tracked=None if predictor is None else predictor.on,
        has_signal=session.signals is not None, has_laser=session.rig.laser is not None,
        trial_schema=TrialSchema.of(spec.cls.Trial), ports=tuple(session.cfg.reward_ports),
        frame_clocks=tuple(session.frames.counts),
    ))
    reader = threading.Thread(
        target=_read_commands, args=(conn, parent_pid, handle, out.gone, stop_reader),
        name="rigctl-commands", daemon=True,
    )
    reader.start()
    signal.signal(signal.SIGTERM,
                  lambda signum, frame: session.request_stop("stopped by SIGTERM"))
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda signum, frame: session.request_finish("GUI closed"))
    try:
        result = session.run()
        out.put(m.Ended(result.status, result.reason, result.n_trials, dict(result.progress),
                        str(folder), result.timing))
    except BaseException as exc:  # noqa: BLE001 - outputs are off; tell the GUI and end
        status = "aborted"
        try:
            from rigctl.data.loader import read_metadata

            status = read_metadata(folder).get("status", status)
        except Exception:  # noqa: BLE001
            pass
        out.put(m.Crashed(f"{type(exc).__name__}: {exc}".splitlines()[0],
                          traceback.format_exc(), str(folder), status))
    stop_reader.set()
    if not out.parent_gone.is_set():
        out.put(m.Summary(**_summary(folder, req.summary_figure)))
    out.close()
    conn.close()


def _emergency_laser_off(session, source: str) -> None:  # type: ignore[no-untyped-def]
    """Latch every laser off through the engine; the session goes on without light.

    The control loop is the only thread that may command the devices, so this queues the latch
    for it (applied before its next event, sub-millisecond on a rig) and waits for it. Only if
    the loop does not answer within a second (it is stuck in a device call) is the laser forced
    off from this thread, as the last resort an emergency allows.
    """
    lasers = list(session.rig.lasers.values())
    before = [laser.latches for laser in lasers]
    session.request_laser_off(source)
    if not lasers:
        return
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        if [la.latches for la in lasers] != before or session.machine.finished:
            return
        time.sleep(0.005)
    for laser in lasers:  # each one, even when one fails
        try:
            laser.force_off()
        except Exception:  # noqa: BLE001 - the shutdown path will try again and log it
            traceback.print_exc()


def manual_main(conn: Connection, req: ManualRequest, parent_pid: int) -> None:
    """Entry point of a manual child: open the rig, run operations one at a time, close."""
    from rigctl.engine.manual import ManualRig
    from rigctl.errors import RigctlError

    _detach_from_terminal()
    out = Outbox(conn)
    ops: queue.Queue[m.ManualOp | m.Close] = queue.Queue()
    measurements: queue.Queue[m.Measurement | m.Cancel] = queue.Queue()
    stop_reader = threading.Event()
    holder: dict[str, ManualRig] = {}

    def cancel() -> None:
        rig = holder.get("rig")
        if rig is not None:
            rig.cancel()
        measurements.put(m.Cancel())

    def handle(cmd: Any) -> None:
        if isinstance(cmd, m.Cancel):
            cancel()
        elif isinstance(cmd, m.Measurement):
            measurements.put(cmd)
        elif isinstance(cmd, m.Close):
            cancel()
            ops.put(cmd)
        elif isinstance(cmd, m.ManualOp):
            ops.put(cmd)
        else:
            out.put(m.OpError(type(cmd).__name__, f"unknown manual command {cmd!r}"))

    def parent_gone() -> None:
        out.gone()
        cancel()
        ops.put(m.Close())

    out.on_parent_gone = parent_gone
    try:
        rig = ManualRig.open(
            req.config, calibrated_laser=req.calibrated_laser,
            log=lambda t, k, n, v: out.put(m.Event(t, k, n, v)),
            on_event=lambda ev: out.put(m.Input(ev.t, ev.name, float(ev.value))),
        )
    except Exception as exc:  # noqa: BLE001 - reported; nothing is open
        out.put(m.Failed(_problems(exc)))
        out.close(timeout=10)
        conn.close()
        return
    holder["rig"] = rig
    out.clock = rig.now
    laser_cfg = rig.cfg.first_laser()  # the manual controls address the first laser
    out.put(m.ManualReady(
        rig=rig.cfg.name, sides=list(rig.sides), has_laser=rig.has_laser,
        laser_unit=rig.laser_command_unit if rig.has_laser else "",
        max_power_mw=laser_cfg.max_power_mw if laser_cfg else None,
        max_on_s=laser_cfg.max_on_s if laser_cfg else None,
        max_open_s={s: rig.cfg.reward_ports[s].valve.max_open_s for s in rig.sides},
        calibrated_laser=req.calibrated_laser,
        lasers=[m.LaserLimits(name, rig.laser_unit(name), la.max_power_mw, la.max_on_s)
                for name, la in rig.cfg.all_lasers().items()],
    ))
    reader = threading.Thread(
        target=_read_commands, args=(conn, parent_pid, handle, parent_gone, stop_reader),
        name="rigctl-commands", daemon=True,
    )
    reader.start()
    try:
        while True:
            try:
                cmd = ops.get(timeout=0.02)
            except queue.Empty:
                with contextlib.suppress(RigctlError):
                    rig.read_events(0.03)  # keeps the sensors live between operations
                continue
            if isinstance(cmd, m.Close):
                break
            _manual_op(rig, cmd, out, measurements)
    finally:
        stop_reader.set()
        failures = rig.close()
        out.put(m.Closed(list(failures)))
        out.close(timeout=5)
        conn.close()


def _manual_op(rig, cmd: m.ManualOp, out: Outbox, measurements: queue.Queue) -> None:  # type: ignore[no-untyped-def]
    """Run one manual operation; its result or error goes back as a message."""
    from rigctl.engine.manual import Cancelled, calibrate_laser, calibrate_valve
    from rigctl.errors import RigctlError

    op = cmd.op

    def progress(done: float, total: float) -> None:
        out.put(m.Progress(op, done, total))

    def step_progress(step, done: float, total: float) -> None:  # type: ignore[no-untyped-def]
        out.put(m.Progress(op, done, total, step.index))

    def measure(step) -> float:  # type: ignore[no-untyped-def]
        while not measurements.empty():  # a stale measurement never answers a new step
            measurements.get_nowait()
        out.put(m.CalStep(op, asdict(step)))
        reply = measurements.get()
        if isinstance(reply, m.Cancel):
            raise Cancelled("cancelled by the operator")
        return float(reply.value)

    try:
        result: Any
        match cmd:
            case m.ValvePulse(side, open_ms, count, interval_s):
                result = rig.pulse_valve(side, float(open_ms), int(count), float(interval_s),
                                         progress=progress)
            case m.Flush(side, seconds):
                result = rig.flush_valve(side, float(seconds), progress=progress)
            case m.LaserPulse(mw, seconds, laser):
                result = asdict(rig.laser_pulse(float(mw), float(seconds), progress=progress,
                                                laser_name=laser))
            case m.CalibrateValve(side, times, openings, interval_s):
                rec = calibrate_valve(rig, side, times, measure, openings=int(openings),
                                      interval_s=float(interval_s), progress=step_progress)
                result = rec.model_dump(mode="json")
            case m.CalibrateLaser(commands, on_s, laser):
                rec = calibrate_laser(rig, commands, measure, on_s=float(on_s),
                                      progress=step_progress, laser_name=laser)
                result = rec.model_dump(mode="json")
            case _:
                raise RigctlError(f"unknown manual command {cmd!r}")
    except RigctlError as exc:
        out.put(m.OpError(op, str(exc)))
    except Exception as exc:  # noqa: BLE001 - reported; outputs were turned off by ManualRig
        out.put(m.OpError(op, f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    else:
        out.put(m.OpDone(op, result))


# --- the parent side ---------------------------------------------------------------------------


class ChildProcess:
    """Parent-side handle of a child: ``send`` commands, ``poll`` messages (never blocks)."""

    target: Callable[..., None]

    def __init__(self, request: Any) -> None:
        self.request = request
        self._ctx = multiprocessing.get_context("spawn")
        self._conn: Connection | None = None
        self.process: multiprocessing.process.BaseProcess | None = None
        self.clock = float("nan")
        self.dropped = 0
        self.closed = False

    def start(self) -> None:
        parent, child = self._ctx.Pipe(duplex=True)
        self.process = self._ctx.Process(
            target=type(self).target, args=(child, self.request, os.getpid()),
            name=f"rigctl-{type(self).__name__}", daemon=False,
        )
        self.process.start()
        child.close()  # only the child holds its end: the child sees EOF when we go away
        self._conn = parent

    @property
    def pid(self) -> int | None:
        return None if self.process is None else self.process.pid

    def is_alive(self) -> bool:
        return self.process is not None and self.process.is_alive()

    @property
    def exitcode(self) -> int | None:
        return None if self.process is None else self.process.exitcode

    def send(self, cmd: Any) -> bool:
        """Send a command (a :mod:`rigctl.engine.messages` dataclass); False if the child is
        gone (the pipe is closed)."""
        if self._conn is None or self.closed:
            return False
        try:
            self._conn.send(cmd)
            return True
        except (OSError, EOFError, ValueError):
            return False

    def poll(self, max_batches: int = 50) -> list[Message]:
        """Every message that has arrived, batches unpacked, without waiting."""
        out: list[Message] = []
        conn = self._conn
        if conn is None or self.closed:
            return out
        for _ in range(max_batches):
            try:
                if not conn.poll():
                    break
                _batch, body = conn.recv()  # ("batch", dict): the only thing a child sends
            except (EOFError, OSError):
                self.closed = True
                break
            out.extend(body["msgs"])
            if body.get("signal") is not None:
                out.append(m.Signal(body["signal"]))
            if "clock" in body:
                self.clock = body["clock"]
                out.append(m.Clock(body["clock"]))
            if body.get("dropped", 0) > self.dropped:
                self.dropped = body["dropped"]
                out.append(m.Dropped(self.dropped))
        return out

    def wait_for(self, kinds: tuple[type, ...], timeout: float) -> list[Message]:
        """Poll until a message of one of the classes ``kinds`` arrives (scripts, tests)."""
        got: list[Message] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            new = self.poll()
            got.extend(new)
            if any(isinstance(msg, kinds) for msg in new):
                return got
            if self.closed and not new:
                break
            time.sleep(0.01)
        return got

    def close_pipe(self) -> None:
        """Close our end: the child sees EOF, as if the GUI had gone away."""
        self.closed = True
        if self._conn is not None:
            self._conn.close()

    def join(self, timeout: float | None = None) -> None:
        if self.process is not None:
            self.process.join(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.is_alive():
            self.process.kill()


class EngineProcess(ChildProcess):
    """A session in a child process. ``start()``, then commands, then ``poll()`` for results."""

    target = staticmethod(engine_main)

    def __init__(self, request: StartRequest) -> None:
        super().__init__(request)
        self._ids = itertools.count(1)

    def pause(self, paused: bool) -> bool:
        return self.send(m.Pause(paused))

    def finish(self, reason: str = "finished by the operator") -> bool:
        return self.send(m.Finish(reason))

    def stop(self, reason: str = "stopped by the operator") -> bool:
        return self.send(m.Stop(reason))

    def laser_off(self, source: str = "operator") -> bool:
        """Emergency: latch the laser off (the session goes on; ``rearm_laser`` lifts it)."""
        return self.send(m.LaserOff(source))

    def rearm_laser(self, source: str = "operator") -> bool:
        return self.send(m.RearmLaser(source))

    def set_params(self, changes: dict[str, Any]) -> int:
        """Offer parameter changes; the answer is a ``ParamsResult`` with the returned id."""
        rid = next(self._ids)
        self.send(m.SetParams(rid, dict(changes)))
        return rid


class ManualProcess(ChildProcess):
    """A rig opened for manual control in a child process (device panel, calibration)."""

    target = staticmethod(manual_main)

    def __init__(self, request: ManualRequest) -> None:
        super().__init__(request)
