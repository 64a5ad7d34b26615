"""Sample arrays the card plays out: valve pulses, laser pulse trains, laser ramp-downs.

Pure functions of their arguments, so the waveforms are tested exactly, sample by sample, without
any driver. Every finite waveform ends on its off value, because an NI output holds its last sample
when a finite generation ends: the final sample is what the line or laser is left at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from rigctl.hardware.interfaces import PulseTrain

MIN_SAMPLES = 2  # DAQmx refuses a buffered generation of fewer samples


def samples_for(duration_s: float, rate_hz: float) -> int:
    """Whole samples of a duration at a rate (rounded to the nearest sample)."""
    return max(0, round(duration_s * rate_hz))


def valve_bank(open_samples: Sequence[int]) -> np.ndarray:
    """Lines x samples booleans: line k high for its first ``open_samples[k]`` samples, then low.

    One trailing low sample on every line leaves all valves closed when the generation ends.
    """
    n = max(max(open_samples, default=0) + 1, MIN_SAMPLES)
    data = np.zeros((len(open_samples), n), dtype=bool)
    for k, count in enumerate(open_samples):
        data[k, :count] = True
    return data


def pulse_period(power_mw: float, pulses: PulseTrain, rate_hz: float) -> np.ndarray:
    """One period of a pulse train in mW: ``width_s`` at ``power_mw``, the rest at 0.

    The period is rounded to whole samples (at 10 kHz a 40 Hz train is exact; a 30 Hz train comes
    out at 30.003 Hz). ValueError if the pulse is not representable at this rate.
    """
    if pulses.frequency_hz <= 0 or pulses.width_s <= 0:
        raise ValueError(f"pulse train {pulses} needs a positive frequency and width")
    period = round(rate_hz / pulses.frequency_hz)
    on = round(pulses.width_s * rate_hz)
    if on < 1 or on >= period:
        raise ValueError(
            f"{pulses.frequency_hz:g} Hz pulses of {pulses.width_s * 1000:g} ms cannot be made "
            f"from {rate_hz:g} Hz samples (need 1 <= width < period); raise ao_rate_hz"
        )
    out = np.zeros(period)
    out[:on] = power_mw
    return out


def ramp_down(period_mw: np.ndarray, ramp_s: float, rate_hz: float) -> np.ndarray:
    """The current emission (one period, repeated) under an envelope falling linearly 1 → 0.

    ``round(ramp_s * rate)`` steps: sample k is ``period[k % len] * (1 - k/n)`` for k = 0..n, so
    the last sample is exactly 0. A pulse train keeps pulsing while its amplitude falls, rather
    than turning into continuous light. No ramp gives two zero samples (off at once).
    """
    n = samples_for(ramp_s, rate_hz)
    if n == 0:
        return np.zeros(MIN_SAMPLES)
    envelope = np.linspace(1.0, 0.0, n + 1)
    return np.resize(np.asarray(period_mw, dtype=float), n + 1) * envelope


def limited(period_mw: np.ndarray, duration_s: float, ramp_s: float, rate_hz: float) -> np.ndarray:
    """The emission (one period, repeated) for at most ``duration_s``, ending exactly at 0.

    ``floor(duration_s * rate)`` samples, so the waveform never outlasts ``duration_s``; the
    last ``round(ramp_s * rate)`` steps fall linearly to 0 (the ramp-down, inside the duration),
    and the final sample is 0, which the card holds when the finite generation ends. This is
    how emission is bounded by the card, not the host: once written, nothing the host fails to
    do can make it longer. Shorter than the minimum generation: two zero samples (off).
    """
    n = math.floor(duration_s * rate_hz + 1e-9)
    if n < MIN_SAMPLES:
        return np.zeros(MIN_SAMPLES)
    out = np.resize(np.asarray(period_mw, dtype=float), n)
    steps = min(samples_for(ramp_s, rate_hz), n - 1)
    if steps:
        out[n - 1 - steps:] *= np.linspace(1.0, 0.0, steps + 1)
    out[-1] = 0.0
    return out


def constant(value: float) -> np.ndarray:
    """A level held after a finite generation of the minimum length."""
    return np.full(MIN_SAMPLES, float(value))
