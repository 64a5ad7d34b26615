"""Signals for test sessions: recorded from the engine's signal pipeline, or synthesised.

``run_with_recorded_signals`` runs a simulated session with the real-time predictor's pipeline
recording into ``signals.bin`` (what the engine will do itself). ``write_synthetic_signals``
adds signals to any finished session afterwards. Its traces are plausible rather than exact: a
neural signal that is high during the sample and decays through the delay, the laser command
rebuilt from the event log (with its ramp-down), and the predictor's Ca²⁺ and gliotransmission
computed from them by the real astrocyte model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rigctl.data import load_session, read_signals
from rigctl.data.events import laser_epochs, state_entries
from rigctl.data.signals import SIGNALS_FILE, SignalWriter
from tests.conftest import SIM_YAML

CHANNELS = ("neural_signal", "calcium", "gliotransmission", "laser_mw")


def write_synthetic_signals(folder: Path, seed: int = 0, rate_hz: float = 1000.0,
                            block: int = 997) -> Path:
    """Write ``folder/signals.bin`` covering the session (replacing the one the engine
    recorded, so tests know exactly what the file holds); returns its path."""
    from rigctl.predictor import predict_offline

    (folder / "signals.bin").unlink(missing_ok=True)
    s = load_session(folder)
    rng = np.random.default_rng(seed)
    end = float(s.events["t_s"].max()) if not s.events.empty else 1.0
    n = int(end * rate_hz) + 1
    t = np.arange(n) / rate_hz
    r = np.full(n, 0.2)
    states = state_entries(s.events)
    times = states["t_s"].to_numpy(float)
    names = states["state"].to_numpy()
    for i, (t0, name) in enumerate(zip(times, names, strict=True)):
        t1 = times[i + 1] if i + 1 < len(times) else end
        seg = slice(int(t0 * rate_hz), int(t1 * rate_hz))
        if name == "sample":
            r[seg] = 1.0
        elif name == "delay":
            tau = 6.0 + 4.0 * rng.random()
            r[seg] = 0.2 + 0.8 * np.exp(-(t[seg] - t0) / tau)
    r = np.clip(r + 0.05 * rng.standard_normal(n), 0.0, 1.0)
    laser = np.zeros(n)
    for ep in laser_epochs(s.events).itertuples():
        if ep.sham:
            continue
        a, b = int(ep.start_s * rate_hz), int(ep.stop_s * rate_hz)
        laser[a:b] = ep.power_mw
        k = max(1, int(ep.ramp_down_s * rate_hz))
        laser[b:b + k] = np.linspace(ep.power_mw, 0.0, k, endpoint=False)[: max(0, n - b)]
    calcium, glio, _ = predict_offline(r, laser=(laser > 0).astype(float))
    data = np.column_stack([r, calcium, glio, laser]).astype(np.float32)
    path = Path(folder) / SIGNALS_FILE
    with SignalWriter(path, CHANNELS, rate_hz) as w:
        for k in range(0, n, block):
            w.append(k, data[k:k + block])
    return path


def run_with_recorded_signals(root: Path, seed: int, params: dict[str, Any],
                              subject: dict[str, str] | None = None) -> Path:
    """Run a simulated session whose signal pipeline records into signals.bin, as the engine
    will once it opens the signals itself (then this only reuses its writer)."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(SIM_YAML))
    spec = resolve_protocol(None, cfg, str(SIM_YAML), params)
    session = Session(cfg, SessionOptions(subject=Subject(**(subject or {})), protocol=spec,
                                          data_root=root, seed=seed,
                                          config_source=str(SIM_YAML)))
    folder = session.open()
    writer = session.writer
    assert writer is not None and session.signals is not None
    if writer.signals is None:
        sig = writer.open_signals(CHANNELS, session.signals.rate_hz)
        session.signals.recorders.append(sig.append)
    session.run()
    return folder


def test_recorded_signals_match_the_trials(tmp_path):
    folder = run_with_recorded_signals(tmp_path, 12, {"n_trials": 10, "stim_mode": "closed_loop",
                                                      "delays_s": [5, 10]})
    s = load_session(folder)
    sig = s.signals
    assert sig is not None and sig.channels == CHANNELS and not s.warnings
    assert sig.t[-1] == pytest.approx(s.events["t_s"].max(), abs=0.01)
    laser = s.trials[s.trials["laser_onset_s"].notna()]
    assert len(laser) > 0
    for rec in laser.itertuples():
        k = sig.index(rec.laser_onset_s)
        # Record k-1 holds the predictor after input sample k-1: the value that crossed.
        assert sig.data["calcium"][k - 1] == pytest.approx(rec.predictor_at_onset, abs=1e-5)
        on = sig.window(rec.laser_onset_s, rec.laser_offset_s)
        assert np.all(sig.data["laser_mw"][on] == rec.laser_power_mw)


def test_synthetic_signals_cover_the_session_and_follow_the_laser(sim_yaml, tmp_path):
    from tests.conftest import run_sim

    result, data, _ = run_sim(sim_yaml, tmp_path, seed=3, params={"n_trials": 12})
    path = write_synthetic_signals(result.folder)
    sig = read_signals(path)
    assert sig.channels == CHANNELS and sig.rate_hz == 1000.0 and not sig.warnings
    assert sig.t[-1] >= data.trials["end_s"].max()
    laser = data.trials[data.trials["trial_type"] == "laser"].iloc[0]
    on = sig.window(laser["laser_onset_s"] + 0.01, laser["laser_offset_s"] - 0.01)
    assert np.all(sig.data["laser_mw"][on] == laser["laser_power_mw"])
