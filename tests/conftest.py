"""Shared fixtures: the shipped simulated rig, variants of it, and a session runner.

Hypothesis profiles. ``ci`` (the default) is derandomised and keeps no example database, so the
same commit draws the same examples on every machine and every run: a red CI is a real failure
that reproduces, never a lucky draw. ``explore`` draws fresh random examples, more of them for
tests that do not fix their own count, and remembers failures in ``.hypothesis/``; run it on
purpose to hunt for new bugs (README, "Tests")::

    python -m pytest --hypothesis-profile=explore tests/faults tests/test_calibration.py
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", derandomize=False, max_examples=1000, print_blob=True)
# --hypothesis-profile=NAME (Hypothesis's pytest option) overrides this default.
settings.load_profile(os.environ.get("RIGCTL_HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parents[1]
SIM_YAML = ROOT / "hardware_configs" / "sim.yaml"


def deep_update(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in changes.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = v
    return out


@pytest.fixture
def sim_yaml() -> Path:
    return SIM_YAML


@pytest.fixture
def make_config(tmp_path: Path):
    """Write sim.yaml with ``changes`` merged in; returns the new file's path."""

    def make(changes: dict[str, Any] | None = None, name: str = "rig.yaml") -> Path:
        data = yaml.safe_load(SIM_YAML.read_text())
        data = deep_update(data, changes or {})
        data["data_root"] = str(tmp_path / "data")
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return make


def run_sim(config: Path, data: Path, **opts: Any):
    """Run a session in-process on the simulated rig; returns (SessionResult, SessionData)."""
    from rigctl.catalog.loading import resolve_protocol
    from rigctl.config import Subject, load_rig
    from rigctl.data import load_session
    from rigctl.engine.session import Session, SessionOptions

    cfg = load_rig(str(config))
    overrides = opts.pop("params", None)
    spec = resolve_protocol(opts.pop("protocol", None), cfg, str(config), overrides)
    subject = Subject(**opts.pop("subject", {}))
    opts.setdefault("summary_figure", False)
    session = Session(cfg, SessionOptions(subject=subject, protocol=spec, data_root=data,
                                          seed=opts.pop("seed", 1), **opts))
    result = session.run()
    return result, load_session(result.folder), session
