"""Layers import downward only: the config layer never imports the hardware layer.

A rig file is validated (calibration fits checked against their points, device types against
the backend table) without importing ``rigctl.hardware``, which imports the config: the circle
that made the order of imports matter. Checked twice: on the static import graph (grimp reads
every import statement, lazy ones inside functions too) and by importing the config modules in
a fresh interpreter, then validating the shipped simulated rig there.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
CONFIG_MODULES = sorted(
    f"rigctl.config.{p.stem}" for p in (ROOT / "rigctl" / "config").glob("*.py")
    if p.stem != "__init__"
) + ["rigctl.config", "rigctl.fitting"]
#: what the config layer (and the fit it uses) may not reach
ABOVE = ("rigctl.hardware", "rigctl.engine", "rigctl.runtime", "rigctl.protocols", "sim_backend")


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("rigctl", exclude_type_checking_imports=True)


@pytest.mark.parametrize("upper", ["rigctl.hardware", "rigctl.engine", "rigctl.protocols"])
def test_the_config_layer_imports_nothing_above_it(graph, upper):
    for lower in ("rigctl.config", "rigctl.fitting"):
        chain = graph.find_shortest_chain(lower, upper, as_packages=True)
        assert chain is None, f"{lower} reaches {upper}: {' -> '.join(chain)}"


def test_the_hardware_layer_uses_the_config_and_the_shared_fit(graph):
    # the direction that is allowed, and the modules the circle was cut with
    assert graph.chain_exists("rigctl.hardware.calibration", "rigctl.fitting")
    assert graph.chain_exists("rigctl.hardware.registry", "rigctl.config.backends")


def test_the_config_modules_and_a_validated_rig_file_leave_the_hardware_layer_unimported():
    # a fresh interpreter: nothing imported before; every validator runs on the shipped rig
    script = textwrap.dedent(f"""
        import importlib, sys
        for module in sys.argv[1:]:
            importlib.import_module(module)
        from rigctl.config import RigConfig, read_yaml, validate
        validate(RigConfig, read_yaml({str(ROOT / "hardware_configs" / "sim.yaml")!r}), "x")
        print(" ".join(m for m in sys.modules if m.startswith({ABOVE!r})))
    """)
    out = subprocess.run([sys.executable, "-c", script, *CONFIG_MODULES], capture_output=True,
                         text=True, cwd=ROOT, check=False, timeout=120)
    assert out.returncode == 0, out.stderr.strip().splitlines()[-1:]
    assert out.stdout.strip() == "", f"imported {out.stdout.strip()}"


def _subpackages() -> list[str]:
    return sorted(f"rigctl.{p.name}" for p in (ROOT / "rigctl").iterdir()
                  if (p / "__init__.py").is_file())


def test_no_two_packages_of_rigctl_import_each_other(graph):
    # Layers, bottom up: config, timing, hardware, predictor, runtime, protocols, compat,
    # catalog, data, engine, power, commands. A circle between two of them makes the order of
    # imports matter and every change to one a change to the other.
    packages = _subpackages()
    assert {"rigctl.timing", "rigctl.runtime", "rigctl.catalog", "rigctl.engine"} <= set(packages)
    circles = []
    for i, a in enumerate(packages):
        for b in packages[i + 1:]:
            up = graph.find_shortest_chain(a, b, as_packages=True)
            down = graph.find_shortest_chain(b, a, as_packages=True)
            if up and down:
                circles.append(f"{' -> '.join(up)}  and  {' -> '.join(down)}")
    assert circles == []
