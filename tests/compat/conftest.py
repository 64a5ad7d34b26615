"""Run a pyControl-style task file on the simulated rig in virtual time, driving its inputs
through the simulated world's input queue (the path a device's edges take), and read back what
the session wrote: the pyControl .tsv with pandas, rigctl's events.csv."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from rigctl.compat.pycontrol import PyControlBinding, default_binding, load_task
from rigctl.config import load_rig
from rigctl.config.subject import Subject
from rigctl.engine.session import Session, SessionOptions, SessionResult

TASKS = Path(__file__).parent / "tasks"
SIM_YAML = Path(__file__).resolve().parents[2] / "hardware_configs" / "sim.yaml"


@dataclass
class Run:
    result: SessionResult
    session: Session
    tsv: pd.DataFrame
    events: pd.DataFrame

    def states(self) -> list[tuple[float, str]]:
        rows = self.tsv[self.tsv["type"] == "state"]
        return list(zip(rows["time"].round(3), rows["content"], strict=True))

    def rows(self, kind: str, subtype: str | None = None) -> pd.DataFrame:
        sel = self.tsv["type"] == kind
        if subtype is not None:
            sel &= self.tsv["subtype"] == subtype
        return self.tsv[sel]


def make_session(tmp: Path, task: str, *, binding: PyControlBinding | None = None,
                 inputs: list[tuple[float, str, float]] = (), duration: float | None = None,
                 seed: int = 1, config: Path = SIM_YAML, realtime: bool = False) -> Session:
    cfg = load_rig(config)
    spec = load_task(TASKS / task, binding or default_binding())
    session = Session(cfg, SessionOptions(subject=Subject(id="m1"), protocol=spec,
                                          data_root=tmp, seed=seed, summary_figure=False,
                                          realtime=realtime))
    world = session.rig.events
    for t, name, value in inputs:
        world.schedule_input(t, name, value)  # type: ignore[attr-defined]
    if duration is not None:
        session.timers.set_at(duration, session.protocol.finish)
    return session


def run_task(tmp: Path, task: str, **kw) -> Run:
    session = make_session(tmp, task, **kw)
    result = session.run()
    return read_run(session, result)


def read_run(session: Session, result: SessionResult) -> Run:
    (tsv_path,) = result.folder.glob("*.tsv")
    tsv = pd.read_csv(tsv_path, sep="\t", keep_default_na=False)
    events = pd.read_csv(result.folder / "events.csv", keep_default_na=False)
    return Run(result, session, tsv, events)


def press(t: float, name: str, hold: float = 0.05) -> list[tuple[float, str, float]]:
    """A rising edge at ``t`` and the falling edge ``hold`` s later."""
    return [(t, name, 1.0), (t + hold, name, 0.0)]


@pytest.fixture
def tasks() -> Path:
    return TASKS
