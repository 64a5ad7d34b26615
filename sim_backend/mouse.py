"""The simulated mouse: working memory held by persistent activity that astrocytes sustain.

SCIENCE.md's reference model. During the sample the remembered side is loaded (m = ±1, full
neural drive); during the delay m decays at a rate that gliotransmission G lowers,
``dm = -λ m dt + σ dW`` with ``λ = λ0 - λ_A G/(G + K_A)``, and neural activity
``r = baseline + (1 - baseline) min(|m|, 1)`` drives the astrocyte, closing the loop. At the go
cue the mouse chooses the side m points to (plus decision noise, lapses, bias) after a
log-normal reaction time, or misses. After a reward it licks a bout.

Genotype and treatment act on the astrocyte only: IP3R2-KO removes the neural drive to IP3
(k_i = 0); hM3Dq + CNO adds a constant IP3 drive that works even in the knockout.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from rigctl.config.subject import Subject
from rigctl.predictor.kernels import astro_step
from rigctl.predictor.params import AstrocyteParams
from sim_backend.noise import IndexedNormals
from sim_backend.settings import MouseSettings

REST, SAMPLE, DELAY = 0, 1, 2
DT = 0.001


@njit(cache=True)
def integrate_mouse(astro, mem, phase, o, noise, dt, astro_p, lam0, lam_a, k_a, sigma,
                    baseline, r_out):  # pragma: no cover - compiled
    """Advance the mouse by len(noise) steps of ``dt`` with fixed phase and inhibition ``o``."""
    sq = sigma * math.sqrt(dt)
    for k in range(noise.shape[0]):
        m = mem[0]
        if phase == SAMPLE:
            r = 1.0
        elif phase == DELAY:
            r = baseline + (1.0 - baseline) * min(abs(m), 1.0)
            g = astro[3]
            lam = lam0 - lam_a * g / (g + k_a)
            mem[0] = m - lam * m * dt + sq * noise[k]
        else:
            r = baseline
        astro_step(astro, r, o, dt, astro_p)
        r_out[k] = r


def astrocyte_params_for(subject: Subject, settings: MouseSettings) -> AstrocyteParams:
    """The astrocyte model of this subject: genotype and treatment as SCIENCE.md specifies."""
    changes: dict[str, float] = {}
    if subject.genotype == "ip3r2_ko":
        changes["k_i"] = 0.0
    if subject.treatment == "cno":
        changes["cno_drive_per_s"] = settings.cno_drive_per_s
    return AstrocyteParams(**changes)


class SimMouse:
    """State and decisions of one simulated mouse; the world tells it what it perceives."""

    def __init__(
        self, subject: Subject, settings: MouseSettings, seed: np.random.SeedSequence
    ) -> None:
        self.s = settings
        self.astro_p = astrocyte_params_for(subject, settings).as_array()
        behaviour_seed, noise_seed = seed.spawn(2)
        self.rng = np.random.default_rng(behaviour_seed)
        self.memory_noise = IndexedNormals(noise_seed, stream=0)
        self.signal_noise = IndexedNormals(noise_seed, stream=1)
        self.astro = np.array([0.0, 0.0, 1.0, 0.0])
        self.mem = np.zeros(1)
        self.phase = REST
        self.o = 0.0
        self.k = 0  # samples integrated so far
        self.last_choice: str | None = None
        self._warm_up()

    def _warm_up(self) -> None:
        """Load the compiled kernel now, while the rig opens: numba loads its cache on the first
        call (1-2 s, more under load), which on the wall clock would stall the first trial."""
        integrate_mouse(self.astro.copy(), self.mem.copy(), REST, 0.0, np.empty(0), DT,
                        self.astro_p, 0.0, 0.0, 1.0, 0.0, 0.0, np.empty(0))

    # --- continuous part ---------------------------------------------------------------
    def advance(self, n: int) -> np.ndarray:
        """Integrate ``n`` 1-ms steps; returns the neural activity r of those steps.

        ``n <= 0`` does nothing: on the wall clock an input edge can be handled after an output
        already brought the mouse to a later time."""
        r = np.empty(max(n, 0))
        if n > 0:
            s = self.s
            integrate_mouse(self.astro, self.mem, self.phase, self.o,
                            self.memory_noise.take(self.k, n), DT, self.astro_p,
                            s.lambda0_per_s, s.lambda_a_per_s, s.k_a, s.sigma,
                            s.baseline_activity, r)
            self.k += n
        return r

    def snapshot(self) -> tuple:
        """The continuous state, to return to when the engine revises a signal chunk."""
        return (self.astro.copy(), self.mem.copy(), self.k, self.phase, self.o)

    def restore(self, snap: tuple) -> None:
        astro, mem, self.k, self.phase, self.o = snap
        self.astro[:] = astro
        self.mem[:] = mem

    @property
    def gliotransmission(self) -> float:
        return float(self.astro[3])

    # --- what it perceives ---------------------------------------------------------------
    def sample_started(self, remembered_side: str | None) -> None:
        """Load the side to go to next: +1 right, -1 left, 0 nothing to remember."""
        self.phase = SAMPLE
        self.mem[0] = {"right": 1.0, "left": -1.0, None: 0.0}[remembered_side]

    def alternation_target(self) -> str | None:
        if self.last_choice is None:
            return None
        return "right" if self.last_choice == "left" else "left"

    def delay_started(self) -> None:
        self.phase = DELAY

    def go(self) -> tuple[str, float] | None:
        """Choose at the go cue: (side, reaction time in s), or None for a miss."""
        s, rng = self.s, self.rng
        self.phase = REST
        miss, lapse, u, z, rt_z = rng.random(), rng.random(), rng.random(), rng.normal(), \
            rng.normal()
        if miss < s.miss_rate:
            return None
        if lapse < s.lapse_rate:
            side = "right" if u < 0.5 + 0.5 * s.side_bias else "left"
        else:
            dv = self.mem[0] + s.decision_noise * z + s.side_bias * s.decision_noise
            side = "right" if dv > 0 else "left"
        self.last_choice = side
        return side, s.rt_median_s * math.exp(s.rt_log_sd * rt_z)

    def lick_bout(self, ul: float) -> list[float]:
        """Lick times after a reward of ``ul`` µL, relative to its delivery."""
        n = int(self.rng.poisson(self.s.licks_per_ul * ul))
        gaps = self.s.lick_interval_s * (1 + 0.1 * self.rng.standard_normal(n))
        return list(np.cumsum(np.maximum(gaps, 0.05)))
