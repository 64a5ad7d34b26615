"""Export a session folder to NWB (Neurodata Without Borders), the field's archive format.

Needs the ``nwb`` extra (``pip install 'rigctl[nwb]'``: pynwb >= 4, which has the core
``EventsTable``). What goes where, so an analyst needs nothing but the file:

- ``/intervals/trials`` — every trials.csv column (start_s/end_s become start_time/stop_time);
- ``/intervals/laser_epochs`` — every laser epoch from the event log, an ndx-optogenetics
  ``OptogeneticEpochsTable`` (pulse length, period, power, wavelength, site; and rigctl's
  ramp-down, sham, interlock cut, trial, laser, start/stop frame), its sites (each laser's
  ``ExcitationSource`` and opsin ``Effector``) in the ``OptogeneticExperimentMetadata``
  (:mod:`rigctl.data.nwb_ogen`);
- ``/stimulus/laser_command`` — an ``OptogeneticSeries`` (watts) at the signals' rate when the
  session recorded ``laser_mw``, else rebuilt from the logged commands, linked to an
  ``OptogeneticStimulusSite`` (opsin, wavelength, fibre location) on the laser's
  ``ExcitationSource``, streamed from ``signals.bin`` (no whole trace in memory);
- ``/acquisition/neural_signal`` (a ``FiberPhotometryResponseSeries`` of ndx-fiber-photometry,
  without its ``FiberPhotometryTable``: rigctl does not record the indicator, fibre, excitation
  source and photodetector that table requires) and ``/processing/ogen/{calcium,
  gliotransmission}`` — the continuous traces of ``signals.bin``;
- ``/acquisition/<name>`` — a ``TimeSeries`` of each named analog input (``analog_<name>.bin``:
  a running wheel...), in its unit, at its rate, from its first sample's time;
- ``/events/{licks,valve_openings,task_states,rig_event_log}`` — core ``EventsTable``s;
- ``/events/sync_pulses`` — every sync pulse rigctl sent (onset, width, line) when the rig had
  a ``sync:`` section; after ``rigctl align --frames``, ``/events/imaging_frames`` — every frame
  of the other system on the session clock (with its own-clock time and index), the alignment
  in its description and in ``notes``, and ``start_frame``/``stop_frame`` of each laser epoch;
- ``/events/frames_<input>`` — every frame of each frame-clock input the rig recorded (frame
  number, session time, device time, and the other system's time when aligned;
  :mod:`rigctl.data.nwb_frames`); the laser epochs' frames then come from it;
- subject (genotype, treatment), and the protocol, rig config and provenance as JSON in the
  file's ``protocol``, ``data_collection`` and ``notes`` fields.

Everything is on the session clock: NWB time 0 is ``start_time`` of session.json.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import uuid
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd

from rigctl.data.events import laser_epochs, licks, state_entries, valve_openings
from rigctl.data.loader import (
    SessionData,
    declared_trial_schema,
    load_session,
    typed_trials,
    writer_alive,
)
from rigctl.data.nwb_frames import add_frame_clocks
from rigctl.data.schema import EVENT_COLUMN_DOCS, SIGNAL_CHANNELS
from rigctl.data.signals import SIGNALS_FILE, read_header, read_signals
from rigctl.errors import DataError, RigctlError
from rigctl.protocols.trial import column_docs

INSTALL_HINT = "NWB export needs the nwb extra: pip install 'rigctl[nwb]'"
GENOTYPES = MappingProxyType({"wt": "wild type", "ip3r2_ko": "IP3R2 knockout (Itpr2-/-)"})
TREATMENTS = MappingProxyType({"none": "no treatment", "saline": "saline (control injection)",
              "cno": "CNO (activates hM3Dq in astrocytes)"})
PREDICTOR_CHANNELS = ("calcium", "gliotransmission")
# Tables and series rigctl writes, for readers and tests.
TRIAL_NWB_RENAME = MappingProxyType({"start_s": "start_time", "end_s": "stop_time"})
#: Metadata rigctl does not record (yet) that an export may add: NWB Subject fields, then
#: NWBFile fields. Subject fields recorded in session.json (a future Subject model) are used too.
SUBJECT_FIELDS = ("age", "date_of_birth", "sex", "species", "strain", "weight")
FILE_FIELDS = ("experimenter", "institution", "lab")
UNKNOWN_AGE = "P0D/"  # ISO 8601 open range "0 days or older": the honest form of "unknown"


def _pynwb() -> Any:
    try:
        import ndx_fiber_photometry  # noqa: F401 - the neural signal's type
        import ndx_optogenetics  # noqa: F401 - the laser's sites and epochs
        import pynwb
        from pynwb import event  # noqa: F401 - EventsTable arrived in pynwb 4
    except ImportError:
        raise RigctlError(INSTALL_HINT) from None
    return pynwb


def default_output(s: SessionData) -> Path:
    """``<session folder>/<subject>_<folder name>.nwb``."""
    subject = (s.metadata.get("subject") or {}).get("id", "subject")
    return s.path / f"{subject}_{s.path.name}.nwb"


def check_exportable(s: SessionData) -> None:
    """Refuse sessions that are still being written, crashed without ``rigctl recover``, or
    whose signals file cannot be read (an export must not silently lack the traces)."""
    if (s.path / SIGNALS_FILE).is_file() and s.signals_header is None:
        read_header(s.path / SIGNALS_FILE)  # raises the one-line reason
    if s.metadata.get("status") == "running":
        if writer_alive(s.metadata):
            raise DataError(f"{s.path}: session is still running (pid {s.metadata.get('pid')}); "
                            "export it when it has ended")
        raise DataError(f"{s.path}: session crashed and was not recovered; run "
                        f"`rigctl recover {s.path}` first")


def _json(value: Any) -> str:
    return json.dumps(value, indent=1, sort_keys=False, ensure_ascii=False, default=str)


def _start_time(meta: dict[str, Any]) -> dt.datetime:
    try:
        start = dt.datetime.fromisoformat(str(meta.get("start_time")))
    except ValueError:
        raise DataError(f"session.json: start_time {meta.get('start_time')!r} is not an ISO "
                        "date-time") from None
    return start if start.tzinfo else start.astimezone()


def _identifier(s: SessionData) -> str:
    m = s.metadata
    key = f"rigctl:{m.get('host')}:{(m.get('subject') or {}).get('id')}:{s.path.name}:" \
          f"{m.get('start_time')}:{m.get('seed')}"
    return str(uuid.uuid5(uuid.NAMESPACE_URL, key))


def _text(values: pd.Series) -> list[str]:
    return ["" if v is pd.NA or v is None or v != v else str(v) for v in values]


def _trial_values(trials: pd.DataFrame, col: str) -> list[Any]:
    values = trials[col]
    if str(values.dtype) == "string":
        return _text(values)
    if str(values.dtype) == "Int64":
        if values.isna().any():
            return values.astype("Float64").to_numpy(dtype=float, na_value=np.nan).tolist()
        return values.astype(int).tolist()
    return values.to_numpy(dtype=float).tolist()


def _trial_docs(schema: list[dict[str, str]] | None) -> dict[str, tuple[str, str]]:
    """(unit, description) of every trial column: the task's declared record, else rigctl's
    built-in TrialRecord (sessions without a schema, and the built-in tasks)."""
    if schema is None:
        return {name: (unit, doc) for name, unit, doc in column_docs()}
    return {c["name"]: (str(c.get("unit") or ""), str(c.get("doc") or "")) for c in schema}


def _trial_times(trials: pd.DataFrame, docs: dict[str, tuple[str, str]], end_s: float
                 ) -> tuple[str | None, np.ndarray, np.ndarray, str]:
    """(start column, start_time, stop_time, how the times were chosen) for NWB's trials table.

    ``start_s``/``end_s`` when the record has them (rigctl's own record). A task's record may
    name its start otherwise (the T-maze's ``poke_s``): then the first column in seconds that
    never decreases is the start. Without ``end_s`` a trial stops where the next one starts and
    the last at the session's last logged event. Without any start: (None, ...).
    """
    def times(col: str) -> np.ndarray:
        return pd.to_numeric(trials[col], errors="coerce").to_numpy(dtype=float)

    start_col = "start_s" if "start_s" in trials else None
    if start_col is None:
        for col in trials.columns:
            v = times(col) if docs.get(col, ("", ""))[0] == "s" else np.array([np.nan])
            if np.isfinite(v).all() and (np.diff(v) >= 0).all():
                start_col = col
                break
    if start_col is None:
        return None, np.array([]), np.array([]), ""
    start = times(start_col)
    if "end_s" in trials:
        return start_col, start, times("end_s"), ""
    stop = np.append(start[1:], max(end_s, start[-1]))
    how = (f"start_time is {start_col}; the task declares no end_s, so stop_time is the next "
           "trial's start_time (the last trial's: the session's last logged event)")
    return start_col, start, stop, how


def _add_trials(nwb: Any, trials: pd.DataFrame, schema: list[dict[str, str]] | None = None,
                end_s: float = float("nan")) -> None:
    """``/intervals/trials`` from trials.csv, each column described by its declared doc and
    unit (session.json's ``trial_schema``; rigctl's TrialRecord for sessions without one).
    ``end_s``: the session's last logged time (the last trial's stop when none is declared)."""
    from pynwb.epoch import TimeIntervals

    if trials.empty:
        return  # NWB cannot type empty columns; no trials table means no trials
    docs = _trial_docs(schema)
    start_col, start, stop, how = _trial_times(trials, docs, end_s)
    values = {c: _trial_values(trials, c) for c in trials.columns}
    renamed = {"start_s", "end_s"} & set(trials.columns)
    if start_col is None:  # nothing places the trials on the clock: keep them, without times
        from hdmf.common import DynamicTable

        table = DynamicTable(name="trial_records", description=(
            "trials.csv of a task whose trial record has no time column in seconds, so NWB's "
            "/intervals/trials (which needs start and stop times) cannot hold it"))
        for col in trials.columns:
            table.add_column(name=col, description=_column_description(col, docs, trials))
        for i in range(len(trials)):
            table.add_row(**{c: v[i] for c, v in values.items()})
        nwb.create_processing_module(name="behavior", description="Behaviour of the task"
                                     ).add(table)
        return
    if how:
        nwb.trials = TimeIntervals(name="trials", description="Trials of the task (trials.csv): "
                                   + how)
    for col in trials.columns:
        if col not in renamed:
            nwb.add_trial_column(name=col, description=_column_description(col, docs, trials))
    for i in range(len(trials)):
        row = {c: v[i] for c, v in values.items() if c not in renamed}
        nwb.add_trial(start_time=float(start[i]), stop_time=float(stop[i]), **row)


def _column_description(col: str, docs: dict[str, tuple[str, str]],
                        trials: pd.DataFrame) -> str:
    unit, doc = docs.get(col, ("", ""))
    extra = "; NaN when not scored" if str(trials[col].dtype) == "Int64" and \
        trials[col].isna().any() else ""
    return f"{doc or col}{' (' + unit + ')' if unit else ''}{extra}"


def _add_laser(nwb: Any, s: SessionData, epochs: pd.DataFrame,
               frames: pd.DataFrame | None = None) -> None:
    from pynwb.ogen import OptogeneticSeries

    import rigctl
    from rigctl.data.nwb_chunks import signal_data
    from rigctl.data.nwb_ogen import add_epochs, add_sites

    rig = s.metadata.get("rig") or {}
    lasers = rig.get("lasers") or ({"laser": rig["laser"]} if rig.get("laser") else {})
    if not lasers:
        return
    # a rig with `lasers:` (one per hemisphere): the command trace is its first laser's
    laser = next(iter(lasers.values()))
    params = (s.metadata.get("protocol") or {}).get("parameters") or {}
    sites, sources = add_sites(nwb, lasers, f"rigctl {rigctl.__version__}")
    site = nwb.create_ogen_site(
        name="astrocyte_inhibition_site",
        device=next(iter(sources.values())),
        description=(f"Optogenetic inhibition of astrocytes expressing {laser.get('opsin')}; "
                     f"stimulation mode {params.get('stim_mode', '?')}, "
                     f"{params.get('laser_power_mw', '?')} mW at the fibre tip during the delay "
                     f"of laser trials"),
        excitation_lambda=float(laser.get("wavelength_nm", np.nan)),
        location=str(laser.get("fibre_location") or "unknown"),
    )
    sig = s.signals
    description = ("Laser power commanded at the fibre tip (stored in mW, conversion 0.001 to "
                   "watts); 0 when off; the ramp-down at each offset included")
    if sig is not None and "laser_mw" in sig.data and sig.n_samples:
        series = OptogeneticSeries(  # streamed from signals.bin: no whole trace in memory
            name="laser_command", site=site, data=signal_data(sig, "laser_mw"),
            conversion=1e-3, rate=sig.rate_hz, starting_time=sig.t0_s,
            description=description + f"; sampled at {sig.rate_hz:g} Hz (signals.bin)",
        )
    else:
        t = [0.0]
        p = [0.0]
        for ep in epochs[~epochs["sham"]].itertuples():
            t += [ep.start_s, ep.start_s, ep.stop_s, ep.stop_s + ep.ramp_down_s]
            p += [0.0, ep.power_mw, ep.power_mw, 0.0]
        order = np.argsort(np.asarray(t), kind="stable")
        series = OptogeneticSeries(
            name="laser_command", site=site,
            data=np.asarray(p, dtype=np.float32)[order], conversion=1e-3,
            timestamps=np.asarray(t, dtype=np.float64)[order],
            description=description + "; rebuilt from the logged laser commands (piecewise "
                                      "linear between timestamps)",
        )
    nwb.add_stimulus(series)
    if epochs.empty:
        return
    add_epochs(nwb, sites, lasers, epochs, s.events, _epoch_frames(s, epochs, frames))


def _epoch_frames(s: SessionData, epochs: pd.DataFrame, frames: pd.DataFrame | None
                  ) -> dict[str, tuple[str, np.ndarray]]:
    """start_frame/stop_frame of each epoch: the frame (rising edge at or before the time) of
    the rig's own frame clock when it recorded one (every acquired frame, exact), else of the
    other system's saved frames mapped by `rigctl align --frames`."""
    out: dict[str, tuple[str, np.ndarray]] = {}
    if s.frames_data:
        name = next(iter(s.frames_data))
        ft, idx, where = s.frames(name), None, f"frames_{name}.frame: the frame clock {name}"
    elif frames is not None and not frames.empty:
        ft, idx = frames["t_s"].to_numpy(float), frames["frame"].to_numpy()
        where = "imaging_frames.frame: the other system's frames"
    else:
        return out
    for col, src in (("start_frame", "start_s"), ("stop_frame", "stop_s")):
        k = np.searchsorted(ft, epochs[src].to_numpy(float), side="right") - 1
        at = k if idx is None else idx[np.maximum(k, 0)]
        out[col] = (f"Index ({where}) of the frame containing {src[:-2]} (-1: before the "
                    "first frame)", np.where(k >= 0, at, -1))
    return out


def _frames(s: SessionData) -> pd.DataFrame | None:
    from rigctl.data.align import FRAMES_FILE

    path = s.path / FRAMES_FILE
    if not path.is_file():
        return None
    try:
        df = pd.read_csv(path)
        df = df[["frame", "t_other_s", "t_s"]].astype({"frame": "int64", "t_other_s": float,
                                                       "t_s": float})
    except (ValueError, KeyError, OSError) as exc:
        raise DataError(f"{path}: not a rigctl frame table ({exc}); rerun `rigctl align "
                        "--frames`") from None
    return df


def _add_sync(nwb: Any, s: SessionData, frames: pd.DataFrame | None) -> None:
    from rigctl.data.align import ALIGNMENT_FILE, load_alignment

    ev = s.events
    if not ev.empty:
        sync = ev[ev["kind"] == "sync"]
        rows = []
        for line in ("sync", "sync_trial"):
            lv = sync[sync["name"] == line]
            t = pd.to_numeric(lv["t_s"], errors="coerce").to_numpy(float)
            v = lv["value"].astype(str).to_numpy()
            on, off = t[v == "1"], t[v == "0"]
            k = np.searchsorted(off, on, side="left")
            width = np.full(on.size, np.nan)  # NaN: the session ended with the line high
            ok = k < off.size
            width[ok] = off[k[ok]] - on[ok]
            rows += [(a, w, line) for a, w in zip(on, width, strict=True)]
        if rows:
            rows.sort()
            sc = ((s.metadata.get("rig") or {}).get("sync")) or {}
            nwb.add_events_table(_events_table(
                "sync_pulses", "Sync pulses rigctl sent to other acquisition systems: onset on "
                f"the session clock, width, line (mode {sc.get('mode', '?')}, "
                f"{sc.get('mean_s', '?')} ± {sc.get('spread_s', '?')} s apart, on "
                f"{sc.get('channel', '?')})",
                "sync edges in events.csv (logged before the line was set)",
                np.array([r[0] for r in rows]), np.array([r[1] for r in rows]),
                {"line": ("sync: the alignment pulses (or barcodes); sync_trial: the "
                          "trial-start TTL", [r[2] for r in rows])}))
    al = load_alignment(s.path)
    if frames is None or frames.empty:
        return
    how = ""
    if al is not None:
        how = (f"; other clock = {al.offset_s:.6f} s + (1 + {al.drift_ppm:.3f} ppm) x session "
               f"clock, from {al.n_matched} matched sync pulses, residual RMS "
               f"{al.residual_rms_s * 1e3:.3f} ms ({ALIGNMENT_FILE})")
    nwb.add_events_table(_events_table(
        "imaging_frames", "Frames of the other acquisition system (microscope) on the session "
        "clock" + how, "frame times of the other system, mapped by `rigctl align --frames`",
        frames["t_s"].to_numpy(float), None,
        {"frame": ("Frame index in the other system's frame-time file",
                   frames["frame"].to_numpy()),
         "t_other_s": ("Frame time on the other system's own clock (s)",
                       frames["t_other_s"].to_numpy(float))}))


def _add_signals(nwb: Any, s: SessionData) -> None:
    from ndx_fiber_photometry import FiberPhotometryResponseSeries
    from pynwb import TimeSeries

    from rigctl.data.nwb_chunks import signal_data

    sig = s.signals
    if sig is None or not sig.n_samples:
        return
    module = None
    neural = (s.metadata.get("rig") or {}).get("neural_signal") or {}
    for name in sig.channels:
        if name == "laser_mw":
            continue  # the OptogeneticSeries
        doc = SIGNAL_CHANNELS[name].doc if name in SIGNAL_CHANNELS else f"signal {name}"
        if name == "neural_signal" and neural.get("channel"):
            doc += f" (input {neural['channel']})"
        kind = FiberPhotometryResponseSeries if name == "neural_signal" else TimeSeries
        # Streamed from signals.bin as the file is written: no whole trace in memory.
        ts = kind(name=name, data=signal_data(sig, name),
                  unit=sig.units.get(name, "a.u."), rate=sig.rate_hz,
                  starting_time=sig.t0_s, description=doc)
        if name in PREDICTOR_CHANNELS:
            if module is None:
                module = nwb.create_processing_module(
                    name="ogen",
                    description="Traces of the real-time astrocyte predictor that drives "
                                "closed-loop stimulation (computed online from neural_signal)")
            module.add(ts)
        else:
            nwb.add_acquisition(ts)


def _add_analog(nwb: Any, s: SessionData) -> None:
    """Each named analog input (``analog_<name>.bin``) as a TimeSeries in ``/acquisition``,
    streamed from its file like the signals."""
    from pynwb import TimeSeries

    from rigctl.data.nwb_chunks import signal_data

    listed = s.metadata.get("analog_inputs")
    listed = listed if isinstance(listed, dict) else {}
    for name in s.analog_inputs:
        a = s.analog(name)
        if not len(a):
            continue
        info = listed.get(name) if isinstance(listed.get(name), dict) else {}
        doc = info.get("description") or f"analog input {name}"
        if info.get("channel"):
            doc += f" (input {info['channel']}; rigctl analog_inputs.{name})"
        sig = read_signals(a.path, mmap=True, check=False)
        for lo, hi in a.damaged:  # the loader's NaN for damaged blocks, in the export too
            sig.damaged.append((lo, hi))
        nwb.add_acquisition(TimeSeries(name=name, data=signal_data(sig, name), unit=a.unit,
                                       rate=a.rate_hz, starting_time=a.t0_s,
                                       description=doc))


def _events_table(name: str, description: str, source: str, timestamps: np.ndarray,
                  durations: np.ndarray | None, columns: dict[str, tuple[str, Any]]) -> Any:
    from hdmf.common import VectorData
    from pynwb.event import DurationVectorData, EventsTable, TimestampVectorData

    cols = [TimestampVectorData(name="timestamp", description="Session-clock time (s)",
                                data=np.asarray(timestamps, dtype=np.float64))]
    if durations is not None:
        cols.append(DurationVectorData(name="duration", description="Duration (s); NaN if "
                                       "unknown", data=np.asarray(durations, dtype=np.float64)))
    for cname, (cdesc, data) in columns.items():
        cols.append(VectorData(name=cname, description=cdesc, data=data))
    return EventsTable(name=name, description=description, source_description=source,
                       columns=cols)


def _add_events(nwb: Any, s: SessionData) -> None:
    lk = licks(s.events, s.trials)
    if not lk.empty:
        nwb.add_events_table(_events_table(
            "licks", "Licks at the reward ports: onset, duration to the falling edge, side",
            "lick sensor inputs of the rig (rising and falling edges in events.csv)",
            lk["t_s"].to_numpy(), lk["duration_s"].to_numpy(),
            {"side": ("left or right port", lk["side"].astype(str).tolist())}))
    vo = valve_openings(s.events, s.trials)
    if not vo.empty:
        nwb.add_events_table(_events_table(
            "valve_openings", "Water valve openings: command time, commanded open time, side",
            "valve output commands (logged before they were sent)",
            vo["t_s"].to_numpy(), vo["duration_s"].to_numpy(),
            {"side": ("left or right port", vo["side"].astype(str).tolist())}))
    st = state_entries(s.events)
    if not st.empty:
        t = st["t_s"].to_numpy(float)
        dur = np.append(np.diff(t), np.nan)
        nwb.add_events_table(_events_table(
            "task_states", "Task state entries; duration until the next state",
            "state machine of the protocol", t, dur,
            {"state": ("state entered", st["state"].astype(str).tolist())}))
    ev = s.events
    if not ev.empty:
        docs = {d.name: d.doc for d in EVENT_COLUMN_DOCS}
        # 'name' would shadow the table's own name attribute, hence event_name.
        cols = {"kind": (docs["kind"], _text(ev["kind"])),
                "event_name": (docs["name"], _text(ev["name"])),
                "value": (docs["value"], _text(ev["value"]))}
        if ev["device_t_s"].notna().any():
            cols["device_t_s"] = (docs["device_t_s"] + " (NaN when none)",
                                  ev["device_t_s"].to_numpy(float))
        nwb.add_events_table(_events_table(
            "rig_event_log", "Every line of events.csv: states, inputs, output commands, trial "
            "boundaries, interlocks, errors (kinds documented in rigctl docs/data-format.md)",
            "rigctl session event log", ev["t_s"].to_numpy(float), None,
            cols))


def subject_info(s: SessionData, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Subject fields for NWB: session.json's subject, then ``extra`` (export options) on top.

    Age is required by NWB best practice; when neither age nor date of birth is known it is
    written as ``P0D/`` (ISO 8601 for "0 days or older") rather than invented.
    """
    subj = dict(s.metadata.get("subject") or {})
    info = {k: subj[k] for k in SUBJECT_FIELDS if subj.get(k) not in (None, "")}
    info.update({k: v for k, v in (extra or {}).items() if k in SUBJECT_FIELDS and v})
    info.setdefault("species", "Mus musculus")
    info.setdefault("sex", "U")
    if "date_of_birth" in info and not isinstance(info["date_of_birth"], dt.datetime):
        try:
            dob = dt.datetime.fromisoformat(str(info["date_of_birth"]))
        except ValueError:
            raise DataError(f"date_of_birth: {info['date_of_birth']!r} is not an ISO date "
                            "(YYYY-MM-DD)") from None
        info["date_of_birth"] = dob if dob.tzinfo else dob.replace(
            tzinfo=_start_time(s.metadata).tzinfo)
    if "age" not in info and "date_of_birth" not in info:
        info["age"] = UNKNOWN_AGE
    return info


#: What the built-in tasks are, in a methods section's words; a user's task is named by itself.
TASK_TITLES = {
    "delayed_alternation": "Delayed alternation working-memory task",
    "match_to_sample": "Delayed match-to-sample working-memory task",
}


def _lit(params: dict[str, Any]) -> bool:
    """Whether the session's protocol could put light on the tissue (sham never does)."""
    return params.get("stim_mode") in ("closed_loop", "open_loop")


def _experiment_description(proto: dict[str, Any], params: dict[str, Any]) -> str:
    """The session's task as it was run: a built-in's title, or a user task's name and file,
    and the astrocyte inhibition only when the protocol had light (a go/no-go task has none)."""
    name = str(proto.get("name", "session"))
    text = TASK_TITLES.get(name) or (
        f"Behavioural task {name}" + (f" (task file {Path(str(proto['task_file'])).name})"
                                      if proto.get("task_file") else ""))
    text += " in mice"
    if _lit(params):
        text += (" with optogenetic inhibition of astrocytes during the delay"
                 + (", chosen in real time by a model predicting astrocytic Ca2+ from a neural "
                    "signal" if params.get("stim_mode") == "closed_loop" else ""))
    elif params.get("stim_mode") == "sham":
        text += " with sham optogenetic stimulation (light path blocked)"
    return text + " (rigctl)."


def _keywords(proto: dict[str, Any], params: dict[str, Any]) -> list[str]:
    name = str(proto.get("name", "session"))
    words = ["behavior", name.replace("_", " ")]
    if "delays_s" in params or name in TASK_TITLES:
        words.append("working memory")
    if params.get("stim_mode") in ("closed_loop", "open_loop", "sham"):
        words += ["astrocytes", "optogenetics"]
    if params.get("stim_mode") == "closed_loop":
        words.append("closed loop")
    return words


def _stimulus_notes(params: dict[str, Any]) -> str:
    mode = params.get("stim_mode")
    if mode is None or mode == "off":
        return "No optogenetic stimulation" + ("" if mode is None else " (stim_mode off)")
    return (f"Laser during the delay of laser trials, mode {mode}, "
            f"{params.get('laser_power_mw', '?')} mW; epochs in /intervals/laser_epochs, "
            "command in /stimulus/laser_command")


def build_nwbfile(s: SessionData, extra: dict[str, Any] | None = None) -> Any:
    """The in-memory ``NWBFile`` of a loaded session; ``extra`` adds metadata rigctl does not
    record (``SUBJECT_FIELDS`` and ``FILE_FIELDS``)."""
    pynwb = _pynwb()
    from pynwb.file import Subject

    import rigctl

    m = s.metadata
    subj = m.get("subject") or {}
    proto = m.get("protocol") or {}
    params = proto.get("parameters") or {}
    rig = m.get("rig") or {}
    simulated = any((d or {}).get("type") == "sim" for d in (rig.get("devices") or {}).values())
    start = _start_time(m)
    genotype, treatment = subj.get("genotype", "unknown"), subj.get("treatment", "none")
    subject = Subject(
        subject_id=str(subj.get("id", "unknown")),
        **subject_info(s, extra),
        genotype=GENOTYPES.get(genotype, str(genotype)),
        description=(f"treatment: {TREATMENTS.get(treatment, treatment)}; rigctl genotype "
                     f"code {genotype}, treatment code {treatment}"
                     + ("; simulated mouse (rigctl sim backend)" if simulated else "")),
    )
    delays = ", ".join(f"{d:g}" for d in params.get("delays_s", []))
    prov = m.get("provenance") or {}
    git = prov.get("git") or {}
    version = str(m.get("rigctl_version") or rigctl.__version__)
    source = f"rigctl {version}"
    if git.get("commit"):
        source += f" (git {git['commit']}{', dirty' if git.get('dirty') else ''})"
    notes = {k: m.get(k) for k in ("status", "reason", "n_trials", "start_time", "end_time",
                                   "host", "format_version", "recovered") if k in m}
    notes["provenance"] = prov
    from rigctl.data.align import ALIGNMENT_FILE

    if (s.path / ALIGNMENT_FILE).is_file():
        try:
            notes["alignment"] = json.loads((s.path / ALIGNMENT_FILE).read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise DataError(f"{s.path / ALIGNMENT_FILE}: unreadable ({exc}); rerun `rigctl "
                            "align`") from None
    nwb = pynwb.NWBFile(
        session_description=(f"{proto.get('name', 'session')} on rig {rig.get('name', '?')}: "
                             + ", ".join([f"{len(s.trials)} trials",
                                          *([f"delays {delays} s"] if delays else []),
                                          *([f"stimulation {params['stim_mode']}"]
                                            if "stim_mode" in params else [])])
                             + f"; status {s.status}"),
        identifier=_identifier(s),
        session_start_time=start,
        session_id=s.path.name,
        experiment_description=_experiment_description(proto, params),
        keywords=_keywords(proto, params),
        protocol=_json(proto),
        data_collection=_json({"rig": rig, "config_source": m.get("config_source"),
                               "seed": m.get("seed"), "clock": m.get("clock")}),
        notes=_json(notes),
        stimulus_notes=_stimulus_notes(params),
        source_script=source,
        source_script_file_name="rigctl",
        was_generated_by=[["rigctl", version]],
        subject=subject,
        **{k: v for k, v in (extra or {}).items() if k in FILE_FIELDS and v},
    )
    trials = s.trials
    end_s = float(s.events["t_s"].max()) if not s.events.empty else float("nan")
    _add_trials(nwb, trials, declared_trial_schema(m.get("trial_schema")), end_s)
    epochs = laser_epochs(s.events, trials)
    frames = _frames(s)
    _add_laser(nwb, s, epochs, frames)
    _add_signals(nwb, s)
    _add_analog(nwb, s)
    _add_events(nwb, s)
    _add_sync(nwb, s, frames)
    add_frame_clocks(nwb, s)
    return nwb


def export_nwb(folder: str | Path, out: str | Path | None = None, overwrite: bool = False,
               extra: dict[str, Any] | None = None) -> Path:
    """Write the session at ``folder`` to ``out`` (default :func:`default_output`).

    The file appears atomically (written beside, then renamed); an existing file is refused
    unless ``overwrite``. ``extra``: see :func:`build_nwbfile`.
    """
    s = load_session(folder)
    check_exportable(s)
    pynwb = _pynwb()
    path = Path(out) if out is not None else default_output(s)
    if path.is_dir():
        path = path / default_output(s).name
    if path.exists() and not overwrite:
        raise DataError(f"{path}: already exists (pass --force to replace it)")
    nwb = build_nwbfile(s, extra)
    tmp = path.with_name(path.stem + ".partial.nwb")
    try:
        with pynwb.NWBHDF5IO(str(tmp), mode="w") as io:
            io.write(nwb)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


def read_nwb_trials(path: str | Path, schema: list[dict[str, str]] | None = None
                    ) -> pd.DataFrame:
    """The trials table of an exported file as trials.csv columns and dtypes (for checks);
    ``schema``: the session's ``trial_schema`` when the task declared its own record."""
    pynwb = _pynwb()
    own = declared_trial_schema(schema)
    with pynwb.NWBHDF5IO(str(path), mode="r") as io:
        nwb = io.read()
        df = nwb.trials.to_dataframe() if nwb.trials is not None else pd.DataFrame()
    df = df.rename(columns={v: k for k, v in TRIAL_NWB_RENAME.items()}).reset_index(drop=True)
    for col in df.columns:
        if df[col].dtype == object:
            df[col] = df[col].map(lambda v: v.decode() if isinstance(v, bytes) else v)
    if own is not None:
        out = {}
        for c in own:
            values = df[c["name"]]
            if c.get("dtype") == "Int64":
                values = pd.array(values.to_numpy(float), dtype="Float64").astype("Int64")
            elif c.get("dtype") == "string":
                values = values.astype("string").replace("", pd.NA)
            else:
                values = values.astype("float64")
            out[c["name"]] = values
        return pd.DataFrame(out)
    if "correct" in df:
        df["correct"] = pd.array(df["correct"].to_numpy(float), dtype="Float64").astype("Int64")
    return typed_trials(df)
