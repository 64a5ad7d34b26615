"""Run an experiment: one engine process per rig, watched and stopped one by one.

Each rig's session runs in its own :class:`~rigctl.engine.remote.EngineProcess` (the child the
GUI uses), so one rig's crash, a slow disk or a full one never stalls another's control loop.
This class is the parent side without any display: ``start``, then ``poll`` from a loop (the
``rigctl experiment`` table, the GUI timer), ``stop``/``finish`` one subject or all, ``close``.

Safety on every exit path: a stop is the engine's own ``Stop`` (outputs off after the current
event); a runner that goes away closes its pipes, which each engine takes as "finish the trial,
outputs off"; an engine that still runs after ``close``'s grace period is killed only as the last
resort (a simulated rig dies with it; real hardware falls back to its own watchdog).
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rigctl.data.locks import Lock, LockedError, acquire
from rigctl.engine import messages as m
from rigctl.engine.remote import EngineProcess
from rigctl.experiment.plan import ExperimentPlan, RigPlan

STARTING, RUNNING, STOPPING = "starting", "running", "stopping"
#: phases after which the rig does nothing more
FINAL = ("completed", "aborted", "failed", "crashed")
#: seconds between free-space checks of a running rig's data folder
DISK_CHECK_S = 1.0
#: warnings kept per rig for the table
KEEP_WARNINGS = 20


@dataclass
class RigRun:
    """What the table shows of one rig, updated from its engine's messages."""

    plan: RigPlan
    phase: str = STARTING
    n_trials: int = 0
    n_total: int = 0
    accuracy: float = float("nan")
    state: str = ""
    warnings: list[str] = field(default_factory=list)
    folder: str = ""
    reason: str = ""
    engine: EngineProcess | None = None
    ended: bool = False  # Ended, Crashed or Failed arrived
    stop_sent: str = ""
    last_disk_check: float = float("-inf")
    timing: dict[str, Any] | None = None  # the engine's lateness record, at its end

    @property
    def subject(self) -> str:
        return self.plan.subject

    @property
    def final(self) -> bool:
        return self.phase in FINAL

    def warn(self, text: str) -> None:
        self.warnings.append(text)
        del self.warnings[:-KEEP_WARNINGS]


class ExperimentRunner:
    """Parent side of an experiment. ``free_bytes(path)`` is the free space of a data folder
    (``shutil.disk_usage`` unless given)."""

    def __init__(self, plan: ExperimentPlan,
                 free_bytes: Callable[[Path], int] | None = None) -> None:
        self.plan = plan
        self.runs = [RigRun(r) for r in plan.rigs]
        self.free_bytes = free_bytes or (lambda p: shutil.disk_usage(p).free)
        self.locks: list[Lock] = []
        self.notes: list[str] = []

    # --- starting ---------------------------------------------------------------------------
    def take_locks(self) -> None:
        """Every subject's and rig's lock, before any rig starts: all or nothing."""
        what = f"experiment {self.plan.config.name} ({self.plan.source})"
        try:
            for run in self.runs:
                root = run.plan.data_root
                for kind, name in (("subject", run.subject), ("rig", run.plan.rig)):
                    lock = acquire(root, kind, name, what)
                    self.locks.append(lock)
                    if lock.stale_note:
                        self.notes.append(lock.stale_note)
        except LockedError:
            self.release_locks()
            raise

    def start(self) -> None:
        """Take the locks, then start every rig's engine (each its own process)."""
        self.take_locks()
        self.start_engines()

    def start_engines(self) -> None:
        """Start every rig's engine process (the locks are held)."""
        for run in self.runs:
            run.engine = EngineProcess(run.plan.request())
            run.engine.start()

    def release_locks(self) -> None:
        for lock in self.locks:
            lock.release()
        self.locks.clear()

    # --- watching ---------------------------------------------------------------------------
    def find(self, subject: str) -> RigRun | None:
        return next((r for r in self.runs if r.subject == subject), None)

    @property
    def done(self) -> bool:
        """Every rig has ended and its engine process has exited."""
        return all(r.final and (r.engine is None or not r.engine.is_alive()) for r in self.runs)

    def poll(self) -> None:
        """Read every engine's messages (never blocks); check free space; notice deaths."""
        now = time.monotonic()
        for run in self.runs:
            if run.engine is None:
                continue
            for msg in run.engine.poll():
                self._handle(run, msg)
            if run.phase == RUNNING and now - run.last_disk_check >= DISK_CHECK_S:
                run.last_disk_check = now
                self._check_disk(run)
            if not run.ended and run.engine.exitcode is not None:
                for msg in run.engine.poll():  # the last batch may still be in the pipe
                    self._handle(run, msg)
                if not run.ended:
                    run.ended = True
                    run.phase = "crashed"
                    run.reason = (f"engine process died (exit code {run.engine.exitcode}) "
                                  "without ending its session")
                    run.warn(run.reason)

    def _check_disk(self, run: RigRun) -> None:
        floor = run.plan.entry.min_free_mb
        floor_mb = self.plan.config.min_free_mb if floor is None else floor
        if floor_mb <= 0:
            return
        root = run.plan.data_root
        try:
            free = self.free_bytes(root)
        except OSError as exc:
            run.warn(f"cannot read the free space of {root}: {exc.strerror or exc}")
            return
        if free < floor_mb * 1e6:
            why = (f"data folder {root} has {free / 1e6:.0f} MB free, below min_free_mb "
                   f"({floor_mb:g} MB): stopped safely, free space and start it again")
            run.warn(why)
            self.stop(run.subject, why)

    def _handle(self, run: RigRun, msg: object) -> None:
        match msg:
            case m.Ready():
                run.phase = STOPPING if run.stop_sent else RUNNING
                run.folder, run.n_total = msg.folder, msg.n_trials
            case m.Trial(_record, progress):
                run.n_trials = int(progress.get("trial", run.n_trials))
                run.accuracy = float(progress.get("accuracy", float("nan")))
            case m.Event(_t, "state", name, _v):
                run.state = name
            case m.Event(_t, kind, name, value) if kind in ("warning", "error"):
                run.warn(f"{name}: {value}" if value else name)
            case m.Ended(status, reason, n_trials, progress, folder):
                run.ended, run.phase, run.reason = True, status, reason
                run.timing = msg.timing
                run.n_trials, run.folder = int(n_trials), folder
                run.accuracy = float(progress.get("accuracy", run.accuracy))
                run.state = ""
            case m.Crashed(reason, _tb, folder, _status):
                run.ended, run.phase, run.reason, run.folder = True, "aborted", reason, folder
                run.warn(reason)
                run.state = ""
            case m.Failed(problems):
                run.ended, run.phase = True, "failed"
                run.reason = problems[0] if problems else "failed to start"
                for p in problems:
                    run.warn(p)
            case _:
                pass

    # --- stopping ---------------------------------------------------------------------------
    def stop(self, subject: str, reason: str = "stopped by the operator") -> bool:
        """End that subject's session after the current event (outputs off, status aborted);
        the other rigs go on. False if there is no such subject or it has already ended."""
        run = self.find(subject)
        if run is None or run.final or run.engine is None:
            return False
        run.stop_sent = reason
        run.phase = STOPPING
        run.engine.stop(reason)
        return True

    def finish(self, subject: str, reason: str = "finished by the operator") -> bool:
        """End that subject's session after the trial in progress."""
        run = self.find(subject)
        if run is None or run.final or run.engine is None:
            return False
        run.stop_sent = reason
        run.phase = STOPPING
        run.engine.finish(reason)
        return True

    def stop_all(self, reason: str) -> None:
        for run in self.runs:
            self.stop(run.subject, reason)

    def wait(self, timeout: float, step: float = 0.05) -> bool:
        """Poll until every rig is done or ``timeout`` s passed; True if done."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if self.done:
                return True
            time.sleep(step)
        self.poll()
        return self.done

    def close(self, grace_s: float = 30.0) -> None:
        """Wait for every engine to end; an engine still running after ``grace_s`` is told
        its parent is gone (finish the trial, outputs off), then, after as long again,
        killed. The locks are released last."""
        try:
            if not self.wait(grace_s):
                for run in self.runs:
                    if run.engine is not None and run.engine.is_alive():
                        run.engine.close_pipe()
                deadline = time.monotonic() + grace_s
                for run in self.runs:
                    if run.engine is not None:
                        run.engine.join(max(0.0, deadline - time.monotonic()))
                for run in self.runs:
                    if run.engine is not None and run.engine.is_alive():
                        run.engine.kill()
                        run.warn("engine killed after it did not end")
            for run in self.runs:
                if run.engine is not None:
                    with contextlib.suppress(Exception):
                        run.engine.join(5)
        finally:
            self.release_locks()
