"""The laser in NWB through ndx-optogenetics: where the light went and when it was on.

- ``OptogeneticExperimentMetadata`` (lab metadata) holds an ``OptogeneticSitesTable`` with one
  row per laser of the rig: its ``ExcitationSource`` (the laser device: wavelength, power
  ceiling) and its ``Effector`` (the opsin in the rig config). rigctl does not record the
  fibre model or the virus, so the table has no ``optical_fiber`` column and no injections,
  which the extension allows (both optional since 0.4).
- ``/intervals/laser_epochs`` is an ``OptogeneticEpochsTable``: per epoch the extension's
  columns (stimulation_on, pulse length, period, pulses, trains, power, wavelength, site) plus
  rigctl's own (ramp-down, sham, interlock cut, trial, laser, and the frame of a frame clock
  each epoch started and stopped in). Continuous light is one pulse as long as the epoch; a
  sham epoch has ``stimulation_on`` False and the extension's "off" values (NaN, -1).

Kept apart from :mod:`rigctl.data.nwb` because it imports the extension (the ``nwb`` extra).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

_TRAIN = re.compile(r"([0-9.eE+-]+)Hz x ([0-9.eE+-]+)s")


def _trains(events: pd.DataFrame) -> dict[tuple[str, float], tuple[float, float]]:
    """(laser, on time) -> (frequency Hz, pulse width s) of every pulsed on command."""
    out: dict[tuple[str, float], tuple[float, float]] = {}
    if events.empty:
        return out
    ev = events[(events["kind"] == "output") & events["value"].astype(str).str.contains("Hz x")]
    for t, name, value in zip(pd.to_numeric(ev["t_s"], errors="coerce"), ev["name"],
                              ev["value"].astype(str), strict=True):
        m = _TRAIN.search(value)
        if m:
            out[(str(name), float(t))] = (float(m.group(1)), float(m.group(2)))
    return out


def add_sites(nwb: Any, lasers: dict[str, dict[str, Any]], software: str) -> tuple[Any, Any]:
    """The sites table (one row per laser, by name) in the file's lab metadata; returns
    (sites table, {laser name: its ExcitationSource}) for the stimulus series and epochs."""
    from ndx_ophys_devices import Effector, ExcitationSource
    from ndx_optogenetics import (
        OptogeneticEffectors,
        OptogeneticExperimentMetadata,
        OptogeneticSitesTable,
    )

    sites = OptogeneticSitesTable(description="One row per laser of the rig (rigctl rig "
                                  "config): the light source and the opsin it drives; fibre "
                                  "and virus are not recorded by rigctl")
    sources, effectors = {}, []
    for name, la in lasers.items():
        source = ExcitationSource(
            name=name if name != "laser" else "laser",
            description=(f"{la.get('wavelength_nm', 0):g} nm laser on channel "
                         f"{la.get('channel')}; interlocks: power ceiling "
                         f"{la.get('max_power_mw')} mW at the fibre tip, longest continuous "
                         f"emission {la.get('max_on_s')} s, ramp-down {la.get('ramp_down_s')} "
                         "s at every offset"),
            power_in_W=float(la.get("max_power_mw", np.nan)) * 1e-3)
        effector = Effector(name=f"{name}_effector", label=str(la.get("opsin") or "unknown"),
                            description=f"Opsin expressed in astrocytes at "
                                        f"{la.get('fibre_location') or 'unknown'}")
        nwb.add_device(source)
        sources[name] = source
        effectors.append(effector)
        sites.add_row(excitation_source=source, effector=effector)
    nwb.add_lab_meta_data(OptogeneticExperimentMetadata(
        optogenetic_sites_table=sites,
        optogenetic_effectors=OptogeneticEffectors(effectors=effectors),
        stimulation_software=software))
    return sites, sources


def add_epochs(nwb: Any, sites: Any, lasers: dict[str, dict[str, Any]], epochs: pd.DataFrame,
               events: pd.DataFrame, frame_cols: dict[str, tuple[str, np.ndarray]]) -> None:
    """``/intervals/laser_epochs`` as an OptogeneticEpochsTable (see the module docstring);
    ``frame_cols``: name -> (description, value per epoch) of the frame columns."""
    from ndx_optogenetics import OptogeneticEpochsTable

    table = OptogeneticEpochsTable(
        name="laser_epochs", target_tables={"optogenetic_sites": sites},
        description="Laser epochs from the logged commands: start at the on command, stop at "
                    "the off command (the ramp-down follows)")
    table.add_column("ramp_down_s", "Ramp-down after the off command (s)")
    table.add_column("sham", "True when the light path was held off (sham stimulation)")
    table.add_column("cut_by_interlock", "True when the max_on_s interlock ended the epoch")
    table.add_column("trial", "Trial number the epoch started in (-1: between trials)")
    table.add_column("laser", "The laser's name in the rig config (laser: the single laser)")
    for col, (doc, _) in frame_cols.items():
        table.add_column(col, doc)
    row_of = {name: i for i, name in enumerate(lasers)}
    trains = _trains(events)
    for i, ep in enumerate(epochs.itertuples()):
        laser = str(ep.laser)
        on = not bool(ep.sham)
        length_ms = (float(ep.stop_s) - float(ep.start_s)) * 1e3
        freq_width = trains.get((laser, float(ep.start_s)))
        if not on:
            pulse, period, n_pulses, n_trains, inter = np.nan, np.nan, -1, -1, np.nan
        elif freq_width is None:  # continuous light: one pulse as long as the epoch
            pulse, period, n_pulses, n_trains, inter = length_ms, length_ms, 1, 1, 0.0
        else:
            freq, width = freq_width
            period = 1e3 / freq
            pulse, n_pulses = width * 1e3, max(1, int(np.ceil(length_ms / period)))
            n_trains, inter = 1, 0.0
        la = lasers.get(laser) or next(iter(lasers.values()))
        table.add_row(
            start_time=float(ep.start_s), stop_time=float(ep.stop_s), stimulation_on=on,
            pulse_length_in_ms=pulse, period_in_ms=period,
            number_pulses_per_pulse_train=n_pulses, number_trains=n_trains,
            intertrain_interval_in_ms=inter, power_in_mW=float(ep.power_mw) if on else 0.0,
            wavelength_in_nm=float(la.get("wavelength_nm", np.nan)),
            optogenetic_sites=[row_of.get(laser, 0)],
            ramp_down_s=float(ep.ramp_down_s), sham=bool(ep.sham),
            cut_by_interlock=bool(ep.cut_by_interlock),
            trial=-1 if ep.trial is pd.NA else int(ep.trial), laser=laser,
            **{c: int(v[i]) for c, (_, v) in frame_cols.items()})
    nwb.add_time_intervals(table)
