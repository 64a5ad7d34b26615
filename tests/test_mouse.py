"""The simulated mouse's astrocytes: genotype and treatment act as SCIENCE.md says."""

from __future__ import annotations

import numpy as np

from rigctl.config import Subject
from sim_backend.mouse import DELAY, SAMPLE, SimMouse, astrocyte_params_for
from sim_backend.settings import MouseSettings


def glio_after_sample(subject: Subject, laser: float = 0.0) -> float:
    mouse = SimMouse(subject, MouseSettings(sigma=0.0), np.random.SeedSequence(1))
    mouse.sample_started("right")
    assert mouse.phase == SAMPLE
    mouse.advance(1000)
    mouse.delay_started()
    assert mouse.phase == DELAY
    mouse.o = laser
    mouse.advance(3000)
    return mouse.gliotransmission


def test_genotype_and_treatment_change_the_astrocyte():
    wt = astrocyte_params_for(Subject(genotype="wt"), MouseSettings())
    ko = astrocyte_params_for(Subject(genotype="ip3r2_ko"), MouseSettings())
    cno = astrocyte_params_for(Subject(genotype="ip3r2_ko", treatment="cno"), MouseSettings())
    saline = astrocyte_params_for(Subject(treatment="saline"), MouseSettings())
    assert wt.k_i > 0 and ko.k_i == 0 and cno.k_i == 0
    assert cno.cno_drive_per_s == MouseSettings().cno_drive_per_s and wt.cno_drive_per_s == 0
    assert saline == wt


def test_gliotransmission_needs_ip3r2_is_rescued_by_cno_and_cut_by_light():
    g_wt = glio_after_sample(Subject())
    assert g_wt > 0.1
    assert glio_after_sample(Subject(genotype="ip3r2_ko")) < 0.01 * g_wt
    assert glio_after_sample(Subject(genotype="ip3r2_ko", treatment="cno")) > 0.5 * g_wt
    assert glio_after_sample(Subject(), laser=1.0) < 0.5 * g_wt


def test_memory_decays_faster_without_astrocytes():
    def mean_abs_memory(subject: Subject) -> float:
        vals = []
        for seed in range(200):
            mouse = SimMouse(subject, MouseSettings(), np.random.SeedSequence(seed))
            mouse.sample_started("left")
            mouse.advance(1000)
            mouse.delay_started()
            mouse.advance(10_000)
            vals.append(-mouse.mem[0])  # remembered side: left = negative
        return float(np.mean(vals))

    assert mean_abs_memory(Subject()) > mean_abs_memory(Subject(genotype="ip3r2_ko")) + 0.1
