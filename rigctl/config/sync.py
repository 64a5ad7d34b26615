"""Sync pulses out: the rig config's optional ``sync:`` section.

Another acquisition system (a two-photon microscope, a photometry or ephys rig) records these
pulses on its own clock; ``rigctl align`` then maps its clock onto the session's
(:mod:`rigctl.data.align`, docs/sync.md). Random intervals make every stretch of pulses unique,
so the alignment needs no pulse counting and survives missing pulses on either side.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, model_validator

from rigctl.config.strict import Strict

if TYPE_CHECKING:
    from rigctl.config.rig import RigConfig


class SyncConfig(Strict):
    """Defaults: 50 ms pulses (pyControl's Rsync width, seen by any system sampling at ≥ 40 Hz)
    every 2-8 s (mean 5 s, as Rsync): ~720 pulses an hour, enough to align to the sample, few
    enough to cost nothing."""

    channel: str = Field(description="Digital output line of the sync pulses, DEVICE/CHANNEL")
    mode: Literal["random", "barcode"] = Field(
        "random", description="random: pulses at random intervals; barcode: the trial number "
                              "as a barcode at each trial start (for systems that prefer it)")
    mean_s: float = Field(5.0, gt=0, le=600, description="Mean interval between pulses (s)")
    spread_s: float = Field(
        3.0, ge=0, description="Intervals are uniform in mean_s ± spread_s (s)")
    width_s: float = Field(0.05, gt=0, le=1, description="Pulse width (s)")
    trial_channel: str | None = Field(
        None, description="Optional line that gives a TTL pulse at every trial start")
    readback_channel: str | None = Field(
        None, description="Input wired to the sync line, read back by `rigctl sync-test`")
    trial_readback_channel: str | None = Field(
        None, description="Input wired to the trial-start line, read back by `rigctl sync-test`")
    trial_width_s: float = Field(0.01, gt=0, le=1, description="Width of the trial-start TTL (s)")
    barcode_bits: int = Field(16, ge=4, le=32, description="Bits of a barcode (trial number)")
    bit_s: float = Field(0.03, gt=0, le=1, description="Duration of one barcode bit (s)")

    @model_validator(mode="after")
    def _intervals(self) -> SyncConfig:
        shortest = self.mean_s - self.spread_s
        if shortest < 2 * self.width_s:
            raise ValueError(
                f"shortest interval mean_s - spread_s = {shortest:g} s must be at least twice "
                f"width_s ({2 * self.width_s:g} s) so the line rests between pulses")
        return self

    def barcode_s(self) -> float:
        """Length of one barcode: a start bit of two bit times, a gap, the bits, a rest."""
        return (self.barcode_bits + 4) * self.bit_s


class FrameClockConfig(Strict):
    """An input that is a frame clock (a microscope's frame-out, a camera's exposure line):
    its rising edges are counted and recorded in ``frames_<input>.bin`` instead of
    ``events.csv`` (docs/sync.md, "Frame clocks in"), and tasks never see them."""

    max_rate_hz: float = Field(
        gt=0, le=100_000, description="Fastest frame rate the line will carry (Hz); refused "
        "when above what the input's device can record")


LINES = ("channel", "trial_channel", "readback_channel", "trial_readback_channel")


def sync_channels(sc: SyncConfig) -> list[tuple[str, str]]:
    """(field, channel) of every line the sync section routes."""
    return [(k, getattr(sc, k)) for k in LINES if getattr(sc, k) is not None]


def sync_problems(cfg: RigConfig) -> list[str]:
    """A sync line that any other field also uses: one line each (sync must own its line)."""
    if cfg.sync is None:
        return []
    mine = {f"sync.{k}": v for k, v in sync_channels(cfg.sync)}
    problems = []
    for path, channel in cfg.channels():
        for own, line in mine.items():
            if channel == line and path != own:
                problems.append(f"{own}: {line!r} is also {path}; give sync pulses a line of "
                                "their own")
    return problems
