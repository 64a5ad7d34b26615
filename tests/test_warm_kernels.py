"""The compiled kernels are loaded while the rig opens, not in the first trial.

numba loads a cached kernel on its first call, which takes 1-2 s (more under load). On the wall
clock that happened in the first inter-trial interval and the control loop reported a 2 s stall.
Each check runs in a fresh interpreter: in this one, earlier tests have loaded the kernels.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np

from rigctl.predictor.stream import Predictor


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=600, check=True)
    return out.stdout.strip()


def test_building_the_predictor_loads_its_kernel():
    assert _fresh("""
        from rigctl.predictor import stream
        stream.Predictor()
        print(len(stream._process_chunk.signatures))
    """) == "1"


def test_building_the_simulated_mouse_loads_its_kernel():
    assert _fresh("""
        import numpy as np
        from rigctl.config import Subject
        from sim_backend import mouse
        from sim_backend.settings import MouseSettings
        mouse.SimMouse(Subject(), MouseSettings(), np.random.SeedSequence(1))
        print(len(mouse.integrate_mouse.signatures))
    """) == "1"


def test_the_warm_up_leaves_the_predictor_at_rest():
    p = Predictor()
    np.testing.assert_array_equal(p.state, [0.0, 0.0, 1.0, 0.0])
    a = p.process(np.full(50, 0.8)).calcium
    np.testing.assert_array_equal(a, Predictor().process(np.full(50, 0.8)).calcium)
