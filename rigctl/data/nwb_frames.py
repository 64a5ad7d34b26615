"""Frame clocks in NWB: ``/events/frames_<input>``, every frame the rig counted, on both clocks.

One core ``EventsTable`` per frame-clock input: the row is the frame number (the same ``k`` as
``SessionData.frames(name)[k]``), ``timestamp`` its rising edge on the session clock (the NWB
file's clock, which trials and laser epochs share), ``device_t_s`` the input device's own
timestamp when it has a clock, and, when the session has an ``alignment.json``
(``rigctl align``), ``t_other_s``: the same edge on the other acquisition system's clock.
Frame times are written gzip-compressed (a 1 kHz clock gives 3.6 M frames an hour).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rigctl.data.loader import SessionData


def _compressed(data: np.ndarray) -> Any:
    from hdmf.backends.hdf5.h5_utils import H5DataIO

    if data.size < 4096:
        return data
    return H5DataIO(data, compression="gzip", compression_opts=4, shuffle=True,
                    chunks=(min(data.shape[0], 1 << 16),))


def add_frame_clocks(nwb: Any, s: SessionData) -> None:
    """``/events/frames_<input>`` for every frame-clock input the session recorded."""
    if not s.frames_data:
        return
    from hdmf.common import VectorData
    from pynwb.event import EventsTable, TimestampVectorData

    from rigctl.data.align import ALIGNMENT_FILE, load_alignment

    al = load_alignment(s.path)
    inputs = (s.metadata.get("rig") or {}).get("inputs") or {}
    for name, fd in s.frames_data.items():
        t = np.asarray(fd.t, dtype=np.float64)
        cols = [TimestampVectorData(name="timestamp", data=_compressed(t),
                                    description="Rising edge of the frame on the session "
                                                "clock (s)"),
                VectorData(name="frame", data=_compressed(np.arange(t.size, dtype=np.int64)),
                           description="Frame number (0 = first frame the rig counted)")]
        if np.isfinite(fd.device_t).any():
            cols.append(VectorData(name="device_t_s", data=_compressed(fd.device_t),
                                   description="The edge on the input device's own clock (s); "
                                               "NaN when it has none"))
        how = ""
        if al is not None:
            cols.append(VectorData(name="t_other_s", data=_compressed(al.to_other(t)),
                                   description="The edge on the other acquisition system's "
                                               f"clock (s), through {ALIGNMENT_FILE}"))
            how = (f"; t_other_s = {al.offset_s:.6f} s + (1 + {al.drift_ppm:.3f} ppm) x "
                   f"timestamp, from {al.n_matched} matched sync pulses, residual RMS "
                   f"{al.residual_rms_s * 1e3:.3f} ms")
        inp = inputs.get(name) or {}
        what = inp.get("description") or "frame clock"
        nwb.add_events_table(EventsTable(
            name=f"frames_{name}",
            description=f"Every frame of frame-clock input {name} ({what}, channel "
                        f"{inp.get('channel', '?')}): {t.size} rising edges counted by the rig"
                        + how,
            source_description=f"frames_{name}.bin of the session folder",
            columns=cols))
