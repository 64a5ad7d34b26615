"""Put two acquisition systems on one clock from the sync pulses both of them saw.

rigctl emits sync pulses at random intervals (:mod:`rigctl.engine.sync`) and logs when it sent
each one on the session clock; another system (a microscope, a photometry rig, an ephys
amplifier) records the same pulses on its own clock. The two lists differ: the other clock has an
offset and runs fast or slow (drift, in ppm), either side may miss pulses or see extra ones, and
both quantise time to their own samples. :func:`align` recovers the linear map

    t_other = offset_s + (1 + drift_ppm * 1e-6) * t_session

without being told which pulse is which.

Method (written for rigctl; the idea of matching random intervals is pyControl's Rsync, the code
is not):

1. *Candidates by interval fingerprints.* Random intervals make every run of ``k`` consecutive
   inter-pulse intervals a fingerprint. Each pulse's fingerprint (the next ``k`` intervals) on
   one side is looked up among the other side's with a k-d tree (:class:`scipy.spatial.cKDTree`,
   Chebyshev distance) within the tolerance that drift and jitter allow. A missing or extra
   pulse spoils only the ``k + 1`` fingerprints around it, so most pulses still find a
   candidate; unrelated trains almost never match ``k`` intervals by chance.
2. *Robust first fit.* The candidate pairs are fitted by Theil-Sen regression (the median of
   pairwise slopes, then the median intercept), which ignores up to ~29% of wrong pairs. It is
   three lines of numpy here rather than :func:`scipy.stats.theilslopes` because importing
   ``scipy.stats`` alone takes 1-9 s on the lab's machines, longer than the alignment.
3. *Refine on every pulse.* Each session pulse is mapped with the current fit and matched to the
   nearest other pulse within ``match_tol_s``; a least-squares line through those pairs
   replaces the fit, until the set of pairs stops changing.
4. *Check.* Too few matches, too small a fraction of the shorter train, or an RMS residual
   above ``max_rms_s`` raise :class:`AlignmentError` with one line saying which and why —
   never a silently wrong mapping.

The map is linear: one offset and one drift for the whole recording, which is what two crystal
clocks do over hours. The residual report (RMS, max, the residual of every matched pulse) shows
when that is not enough.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from rigctl.errors import DataError, RigctlError

#: Consecutive intervals in a fingerprint: 4 makes chance matches between unrelated random
#: trains negligible while a dropped pulse spoils only 5 fingerprints.
FINGERPRINT = 4
#: Theil-Sen is O(n²) in the candidate pairs; this many evenly spaced ones are plenty for a
#: first fit that only has to be good to ``match_tol_s``.
MAX_FIT_CANDIDATES = 400


class AlignmentError(RigctlError):
    """The two pulse trains cannot be aligned (unrelated, too few matches, bad residuals)."""


@dataclass(frozen=True)
class AlignOptions:
    """Tolerances of :func:`align`; the defaults suit rigctl's default sync pulses (2-8 s
    apart) recorded by a system sampling at 1 kHz or faster, for recordings of up to ~24 h."""

    jitter_s: float = 0.002  # timing noise of one pulse on either clock (both sampling steps)
    max_drift_ppm: float = 1000.0  # largest clock-rate difference to search
    match_tol_s: float = 0.010  # a pulse pair farther apart than this after mapping is no match
    min_matched: int = 10  # fewer pairs than this: refuse
    min_fraction: float = 0.5  # fewer than this fraction of the shorter train matched: refuse
    max_rms_s: float = 0.005  # RMS residual above this: refuse

    def __post_init__(self) -> None:
        for name in ("jitter_s", "match_tol_s", "max_rms_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0 (got {getattr(self, name)})")
        if not 0 <= self.max_drift_ppm < 1e5:
            raise ValueError(f"max_drift_ppm must be in [0, 1e5) (got {self.max_drift_ppm})")
        if self.min_matched < 3:
            raise ValueError(f"min_matched must be at least 3 (got {self.min_matched})")


@dataclass(frozen=True)
class Alignment:
    """A linear map between the session clock and another system's clock, and its evidence."""

    offset_s: float  # other-clock time of session time 0
    drift_ppm: float  # how much faster the other clock runs (ppm)
    n_matched: int
    n_session: int  # pulses on the session side
    n_other: int  # pulses on the other side
    residual_rms_s: float
    residual_max_s: float
    matched_session: np.ndarray = field(repr=False)  # indices into the session pulses
    matched_other: np.ndarray = field(repr=False)  # indices into the other pulses
    residuals_s: np.ndarray = field(repr=False)  # other time − mapped session time, per pair

    @property
    def scale(self) -> float:
        return 1.0 + self.drift_ppm * 1e-6

    def to_other(self, t_session: Any) -> Any:
        """Session-clock times (s) on the other system's clock."""
        return self.offset_s + self.scale * np.asarray(t_session, dtype=float)

    def to_session(self, t_other: Any) -> Any:
        """Other-clock times (s) on the session clock."""
        return (np.asarray(t_other, dtype=float) - self.offset_s) / self.scale

    def frame_index(self, t_session: Any, frame_times_other: Sequence[float]) -> np.ndarray:
        """Index of the other system's frame (``frame_times_other``: frame starts on its
        clock, ascending) that contains each session time; -1 before the first frame."""
        frames = np.asarray(frame_times_other, dtype=float)
        return np.searchsorted(frames, self.to_other(t_session), side="right") - 1

    def unmatched(self) -> tuple[np.ndarray, np.ndarray]:
        """Indices of pulses without a partner: (session side, other side)."""
        s = np.setdiff1d(np.arange(self.n_session), self.matched_session)
        o = np.setdiff1d(np.arange(self.n_other), self.matched_other)
        return s, o

    def summary(self) -> dict[str, Any]:
        """The numbers of ``alignment.json`` (JSON-ready; no per-pulse arrays)."""
        d = {k: v for k, v in asdict(self).items() if not isinstance(v, np.ndarray)}
        s, o = self.unmatched()
        d.update(n_unmatched_session=int(s.size), n_unmatched_other=int(o.size),
                 model="t_other = offset_s + (1 + drift_ppm * 1e-6) * t_session")
        return {k: (float(v) if isinstance(v, (float, np.floating)) else v) for k, v in d.items()}

    def report(self) -> list[str]:
        """Human-readable lines: the map and how well it fits."""
        s, o = self.unmatched()
        return [
            f"offset: {self.offset_s:.6f} s (other clock at session time 0)",
            f"drift: {self.drift_ppm:+.3f} ppm (other clock runs "
            f"{'fast' if self.drift_ppm >= 0 else 'slow'})",
            f"matched: {self.n_matched} pulses of {self.n_session} (session) and "
            f"{self.n_other} (other); unmatched {s.size} session, {o.size} other",
            f"residuals: rms {self.residual_rms_s * 1e3:.3f} ms, max "
            f"{self.residual_max_s * 1e3:.3f} ms",
        ]


def _as_times(name: str, t: Sequence[float]) -> np.ndarray:
    a = np.asarray(t, dtype=float).ravel()
    if not np.all(np.isfinite(a)):
        raise AlignmentError(f"{name}: pulse times must be finite numbers")
    if a.size > 1 and np.any(np.diff(a) <= 0):
        k = int(np.flatnonzero(np.diff(a) <= 0)[0]) + 1
        raise AlignmentError(f"{name}: pulse times must increase (pulse {k} at {a[k]!r} s "
                             f"follows {a[k - 1]!r} s)")
    return a


def _fingerprints(t: np.ndarray, k: int) -> np.ndarray:
    """Row i: the ``k`` intervals that follow pulse i."""
    d = np.diff(t)
    n = d.size - k + 1
    if n <= 0:
        return np.empty((0, k))
    return np.lib.stride_tricks.sliding_window_view(d, k)


def _candidates(a: np.ndarray, b: np.ndarray, opts: AlignOptions) -> tuple[np.ndarray,
                                                                            np.ndarray]:
    fa, fb = _fingerprints(a, FINGERPRINT), _fingerprints(b, FINGERPRINT)
    if not len(fa) or not len(fb):
        return np.empty(0, int), np.empty(0, int)
    longest = float(max(fa.max(), fb.max()))
    radius = 4 * opts.jitter_s + opts.max_drift_ppm * 1e-6 * longest
    tree = cKDTree(fb)
    hits = tree.query_ball_point(fa, r=radius, p=np.inf)
    ia = [i for i, h in enumerate(hits) for _ in h]
    ib = [j for h in hits for j in h]
    return np.asarray(ia, dtype=int), np.asarray(ib, dtype=int)


def _theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median of the slopes between every two points, then the median intercept."""
    i, j = np.triu_indices(x.size, k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    slope = float(np.median((y[j] - y[i])[ok] / dx[ok]))
    return slope, float(np.median(y - slope * x))


def _match(a: np.ndarray, b: np.ndarray, offset: float, scale: float,
           tol: float) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one nearest pairs within ``tol`` after mapping ``a`` onto ``b``'s clock."""
    m = offset + scale * a
    j = np.clip(np.searchsorted(b, m), 1, max(1, b.size - 1))
    j = np.where(np.abs(m - b[j - 1]) <= np.abs(m - b[j]), j - 1, j)
    ok = np.abs(b[j] - m) <= tol
    ia, ib = np.flatnonzero(ok), j[ok]
    # Keep the closest of several session pulses claiming one other pulse.
    order = np.lexsort((np.abs(b[ib] - m[ia]), ib))
    ia, ib = ia[order], ib[order]
    first = np.ones(ib.size, dtype=bool)
    first[1:] = ib[1:] != ib[:-1]
    ia, ib = ia[first], ib[first]
    order = np.argsort(ia)
    return ia[order], ib[order]


def align(session_pulses: Sequence[float], other_pulses: Sequence[float],
          options: AlignOptions | None = None, *, session_name: str = "session pulses",
          other_name: str = "other pulses") -> Alignment:
    """Map the session clock onto the other system's from the pulses both recorded.

    ``session_pulses``: onset times (s) of the sync pulses on the session clock, as rigctl
    logged them; ``other_pulses``: the onsets the other system recorded, in its own seconds.
    Raises :class:`AlignmentError` (one line, naming ``session_name``/``other_name``) when the
    trains do not match.
    """
    opts = options or AlignOptions()
    a = _as_times(session_name, session_pulses)
    b = _as_times(other_name, other_pulses)
    need = max(opts.min_matched, FINGERPRINT + 1)
    for name, t in ((session_name, a), (other_name, b)):
        if t.size < need:
            raise AlignmentError(f"{name}: {t.size} pulses; alignment needs at least {need}")
    ia, ib = _candidates(a, b, opts)
    if ia.size < 3:
        raise AlignmentError(
            f"{other_name} do not match {session_name}: no run of {FINGERPRINT} inter-pulse "
            f"intervals agrees within {opts.jitter_s * 4e3:g} ms + {opts.max_drift_ppm:g} ppm "
            "(unrelated recordings, different units, or more jitter than --jitter-ms allows)")
    if ia.size > MAX_FIT_CANDIDATES:
        keep = np.linspace(0, ia.size - 1, MAX_FIT_CANDIDATES).round().astype(int)
        ia, ib = ia[keep], ib[keep]
    scale, offset = _theil_sen(a[ia], b[ib])
    ma, mb = np.empty(0, int), np.empty(0, int)
    for _ in range(20):
        na, nb = _match(a, b, offset, scale, opts.match_tol_s)
        if na.size < 2:
            break
        if np.array_equal(na, ma) and np.array_equal(nb, mb):
            break
        ma, mb = na, nb
        x = a[ma] - a[ma].mean()  # centred: a well-conditioned fit over hours
        scale = float(np.dot(x, b[mb] - b[mb].mean()) / np.dot(x, x))
        offset = float(b[mb].mean() - scale * a[ma].mean())
    shorter = min(a.size, b.size)
    if ma.size < max(opts.min_matched, opts.min_fraction * shorter):
        raise AlignmentError(
            f"{other_name} do not match {session_name}: only {ma.size} of {shorter} pulses "
            f"pair up within {opts.match_tol_s * 1e3:g} ms (need {opts.min_matched} and "
            f"{opts.min_fraction:.0%}); are these recordings of the same session?")
    res = b[mb] - (offset + scale * a[ma])
    rms = float(np.sqrt(np.mean(res**2)))
    if rms > opts.max_rms_s:
        raise AlignmentError(
            f"{other_name}: residuals after alignment are {rms * 1e3:.3f} ms RMS, above "
            f"{opts.max_rms_s * 1e3:g} ms; the clocks do not follow one offset and drift "
            "(check the recordings, or raise --max-rms-ms if the other system is that coarse)")
    return Alignment(
        offset_s=float(offset), drift_ppm=float((scale - 1.0) * 1e6), n_matched=int(ma.size),
        n_session=int(a.size), n_other=int(b.size), residual_rms_s=rms,
        residual_max_s=float(np.max(np.abs(res))), matched_session=ma, matched_other=mb,
        residuals_s=res)


ALIGNMENT_FILE = "alignment.json"
FRAMES_FILE = "frame_times.csv"


def read_times(path: str | Path, what: str = "pulse times") -> np.ndarray:
    """Times (s) from a text file: one number a line, an optional header line, blank lines
    ignored. A bad line is a one-line :class:`DataError` naming the file and the line."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{p}: cannot read {what}: {getattr(exc, 'strerror', None) or exc}"
                        ) from None
    values: list[float] = []
    header_allowed = True
    for n, line in enumerate(text.splitlines(), start=1):
        cell = line.strip()
        if not cell:
            continue
        first, header_allowed = header_allowed, False
        try:
            v = float(cell)
        except ValueError:
            if first:
                continue  # the header
            raise DataError(f"{p}:{n}: {cell[:40]!r} is not a time in seconds (expected one "
                            "number a line, an optional header)") from None
        if not math.isfinite(v):
            raise DataError(f"{p}:{n}: {cell!r} is not a finite time")
        values.append(v)
    if not values:
        raise DataError(f"{p}: no {what} (expected one number a line)")
    return np.asarray(values, dtype=float)


def session_pulses(events: pd.DataFrame) -> np.ndarray:
    """Onsets (s, session clock) of the random sync pulses logged in ``events.csv``."""
    if events.empty:
        return np.empty(0)
    ev = events[(events["kind"] == "sync") & (events["name"] == "sync")
                & (events["value"].astype(str) == "1")]
    return pd.to_numeric(ev["t_s"], errors="coerce").to_numpy(float)


def save_alignment(folder: Path, al: Alignment, other: Path, options: AlignOptions,
                   extra: dict[str, Any] | None = None) -> Path:
    """Write ``alignment.json`` into the session folder (atomically)."""
    from rigctl.data.writer import write_json_atomic

    data = al.summary()
    data.update(other_file=str(other), options=asdict(options), **(extra or {}))
    path = folder / ALIGNMENT_FILE
    write_json_atomic(path, data)
    return path


def load_alignment(folder: str | Path) -> Alignment | None:
    """The map saved by ``rigctl align`` in a session folder, or None. Only the numbers are
    saved: the per-pulse arrays of the result are empty."""
    path = Path(folder) / ALIGNMENT_FILE
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        return Alignment(
            offset_s=float(d["offset_s"]), drift_ppm=float(d["drift_ppm"]),
            n_matched=int(d["n_matched"]), n_session=int(d["n_session"]),
            n_other=int(d["n_other"]), residual_rms_s=float(d["residual_rms_s"]),
            residual_max_s=float(d["residual_max_s"]), matched_session=np.empty(0, int),
            matched_other=np.empty(0, int), residuals_s=np.empty(0))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a rigctl alignment ({exc}); rerun `rigctl align`"
                        ) from None
