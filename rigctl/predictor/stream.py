"""Streaming (real-time) and offline front ends of the astrocyte predictor.

The engine calls :meth:`Predictor.process` with a few samples at a time inside its control loop, so
everything per call is kept to one numba dispatch plus a handful of cheap Python checks; the
configuration, state and crossing carry live in small preallocated arrays owned by the instance.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from . import kernels as K
from .params import AstrocyteParams

__all__ = ["Predictor", "PredictorChunk", "predict_offline"]

Tracked = Literal["calcium", "gliotransmission"]
_WHICH = {"calcium": K.TRACK_CALCIUM, "gliotransmission": K.TRACK_GLIO}
# dt · (fastest rate) must stay below this: keeps Heun's error ≲ 1e-4 of the signal and the scheme
# far inside its stability region (defaults allow dt up to ~14 ms).
_MAX_DT_RATE = 0.05


@dataclass(frozen=True, slots=True)
class PredictorChunk:
    """Result of one :meth:`Predictor.process` call.

    The arrays are freshly allocated for each call and never touched again by the predictor, so
    callers may keep them. ``calcium[k]``/``gliotransmission[k]`` are the values at the end of
    input sample k. ``crossing`` is the index (within this chunk) of the first threshold crossing
    (actual, or predicted when look-ahead is on), or -1.
    """

    calcium: np.ndarray
    gliotransmission: np.ndarray
    crossing: int
    on: Tracked

    @property
    def tracked(self) -> np.ndarray:
        """The trace the threshold applies to (``calcium`` or ``gliotransmission``)."""
        return self.calcium if self.on == "calcium" else self.gliotransmission


_process_chunk = K.process_chunk


def _chunk_factory() -> Callable[[np.ndarray, np.ndarray, int, Tracked], PredictorChunk]:
    """A PredictorChunk constructor that fills the slots directly.

    The frozen dataclass ``__init__`` pays for one ``object.__setattr__`` per field (~0.4 µs for
    four), a fifth of the whole per-call budget of the control loop; setting the slot descriptors
    directly gives the same object in ~0.25 µs. Tests check it equals the normal constructor.
    """
    new = object.__new__
    set_c = PredictorChunk.calcium.__set__  # type: ignore[attr-defined]
    set_g = PredictorChunk.gliotransmission.__set__  # type: ignore[attr-defined]
    set_x = PredictorChunk.crossing.__set__  # type: ignore[attr-defined]
    set_on = PredictorChunk.on.__set__  # type: ignore[attr-defined]

    def make(calcium: np.ndarray, glio: np.ndarray, crossing: int, on: Tracked) -> PredictorChunk:
        chunk = new(PredictorChunk)
        set_c(chunk, calcium)
        set_g(chunk, glio)
        set_x(chunk, crossing)
        set_on(chunk, on)
        return chunk

    return make


_new_chunk = _chunk_factory()


def _finite(name: str, value: float) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    return v


def _as_samples(samples: ArrayLike) -> np.ndarray:
    """A contiguous 1-D float64 view/copy of ``samples`` (a scalar becomes one sample)."""
    x = np.ascontiguousarray(samples, dtype=np.float64)
    if x.ndim != 1:
        if x.ndim == 0:
            return x.reshape(1)
        raise ValueError(f"neural signal samples must be 1-D, got shape {x.shape}")
    return x


class Predictor:
    """Real-time astrocyte Ca²⁺ / gliotransmission predictor with threshold-crossing detection.

    Input samples (one per ``dt_s``) are mapped to normalised activity
    ``r = clip((x - input_offset) * input_scale, 0, 1)``, because a photometry signal is not
    normalised. ``threshold`` applies to the ``on`` variable: calcium (normalised, so in (0, 1]) or
    gliotransmission (not normalised: any positive value). ``lookahead_s > 0`` reports a crossing as
    soon as holding the current input for that long would reach the threshold, to absorb the
    latency of the laser path; the forward integration costs ~9 ns per look-ahead step, but runs
    only while armed, below threshold, rising and not ruled out by a cheap analytic bound (see
    kernels). On a realistic signal that is rare; the worst case (input held so that the value
    creeps up to just under the threshold) pays the full horizon every sample: ~3.2 µs a sample
    for 200 ms.

    ``process`` returns fresh arrays; configuration is fixed at construction (make a new Predictor
    to change it); state persists across calls until :meth:`reset`.
    """

    __slots__ = ("_params", "_on", "_threshold", "_lookahead_steps", "_cfg", "_st", "_o1", "_none")

    def __init__(
        self,
        params: AstrocyteParams | None = None,
        threshold: float = 0.5,
        on: Tracked = "calcium",
        lookahead_s: float = 0.0,
        dt_s: float = 0.001,
        input_offset: float = 0.0,
        input_scale: float = 1.0,
    ) -> None:
        if params is None:
            params = AstrocyteParams()
        if not isinstance(params, AstrocyteParams):
            raise TypeError(f"params must be AstrocyteParams, got {type(params).__name__}")
        if on not in _WHICH:
            raise ValueError(f"on must be 'calcium' or 'gliotransmission', got {on!r}")
        threshold = _finite("threshold", threshold)
        if on == "calcium" and not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        if threshold <= 0.0:
            raise ValueError(f"threshold must be > 0, got {threshold}")
        dt_s = _finite("dt_s", dt_s)
        if dt_s <= 0.0:
            raise ValueError(f"dt_s must be > 0, got {dt_s}")
        rate = params.fastest_rate_per_s()
        if dt_s * rate > _MAX_DT_RATE:
            raise ValueError(
                f"dt_s must be <= {_MAX_DT_RATE / rate:.4g} s for these params "
                f"(fastest rate {rate:.4g}/s), got {dt_s}"
            )
        lookahead_s = _finite("lookahead_s", lookahead_s)
        if lookahead_s < 0.0:
            raise ValueError(f"lookahead_s must be >= 0, got {lookahead_s}")
        input_offset = _finite("input_offset", input_offset)
        input_scale = _finite("input_scale", input_scale)
        if input_scale <= 0.0:
            raise ValueError(f"input_scale must be > 0, got {input_scale}")

        self._params = params
        self._on: Tracked = on
        self._threshold = threshold
        self._lookahead_steps = round(lookahead_s / dt_s)
        cfg = np.empty(K.CFG_SIZE, dtype=np.float64)
        cfg[K.CFG_DT] = dt_s
        cfg[K.CFG_THRESHOLD] = threshold
        cfg[K.CFG_WHICH] = _WHICH[on]
        cfg[K.CFG_STEPS] = self._lookahead_steps
        cfg[K.CFG_OFFSET] = input_offset
        cfg[K.CFG_SCALE] = input_scale
        cfg[K.CFG_PARAMS :] = params.as_array()
        self._cfg = cfg
        self._st = np.empty(6, dtype=np.float64)  # [I, C, x, G, previous tracked value, armed]
        self._o1 = np.zeros(1, dtype=np.float64)  # reused holder for a scalar laser value
        self._none = np.empty(0, dtype=np.int64)  # "record no crossings" for the hot path
        self.reset()
        self._warm_up()

    def _warm_up(self) -> None:
        """Run the hot path once and undo it: numba loads its compiled kernel on the first
        call (1-2 s), which must happen while the session opens, not in the first trial."""
        snap = self.snapshot()
        self.process(np.zeros(1), 0.0)
        self.restore(snap)

    # -- configuration (read-only: make a new Predictor to change it) --
    @property
    def params(self) -> AstrocyteParams:
        return self._params

    @property
    def on(self) -> Tracked:
        return self._on

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def dt_s(self) -> float:
        return float(self._cfg[K.CFG_DT])

    @property
    def lookahead_steps(self) -> int:
        """Look-ahead horizon in samples (``round(lookahead_s / dt_s)``)."""
        return self._lookahead_steps

    # -- state --
    def snapshot(self) -> np.ndarray:
        """Everything the next ``process`` depends on (state and crossing carry), as a copy."""
        return self._st.copy()

    def restore(self, snap: np.ndarray) -> None:
        """Return to a ``snapshot``: lets the control loop re-run part of a chunk after a
        crossing changed the laser input, so a chunk cut anywhere equals one-sample stepping."""
        self._st[:] = snap

    def reset(self) -> None:
        """Back to rest (I=0, C=0, x=1, G=0), crossing detection armed."""
        self._st[:] = (0.0, 0.0, 1.0, 0.0, 0.0, 1.0)

    @property
    def state(self) -> np.ndarray:
        """A copy of the model state [I, C, x, G]."""
        return self._st[:4].copy()

    @property
    def value(self) -> float:
        """The current tracked value (calcium or gliotransmission)."""
        return float(self._st[1] if self._on == "calcium" else self._st[3])

    # -- processing --
    def _laser(self, laser: ArrayLike, n: int) -> np.ndarray:
        if isinstance(laser, (float, int)):
            self._o1[0] = laser
            return self._o1
        o = np.ascontiguousarray(laser, dtype=np.float64)
        if o.ndim == 0:
            o = o.reshape(1)
        elif o.ndim != 1 or (o.shape[0] != n and o.shape[0] != 1):
            raise ValueError(
                f"laser must be a scalar or have {n} values (one per sample), got shape {o.shape}"
            )
        return o

    def _raise_invalid(self, code: int, n: int, o: np.ndarray) -> None:
        idx = -2 - code
        if idx < n:
            raise ValueError(f"neural signal sample is not finite at index {idx}")
        idx -= n
        raise ValueError(f"laser must be in [0, 1], got {o[idx]} at index {idx}")

    def process(self, samples: ArrayLike, laser: ArrayLike = 0.0) -> PredictorChunk:
        """Integrate the next chunk of input samples; state carries over to the next call.

        ``laser`` is the inhibition o in [0, 1]: a scalar held for the chunk or one value per
        sample. On invalid input a ValueError is raised and the state is left unchanged.
        This is the control loop's hot path (chunks of 1-10 samples), hence the inlined checks.
        """
        x = np.ascontiguousarray(samples, dtype=np.float64)
        if x.ndim != 1:
            x = _as_samples(x)
        n = x.shape[0]
        if isinstance(laser, (float, int)):
            o = self._o1
            o[0] = laser
        else:
            o = self._laser(laser, n)
        out = np.empty((2, n), dtype=np.float64)
        code = _process_chunk(x, o, self._cfg, self._st, out, self._none)
        if code < -1:
            self._raise_invalid(code, n, o)
        return _new_chunk(out[0], out[1], code, self._on)

    def process_all(
        self, samples: ArrayLike, laser: ArrayLike = 0.0
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Like :meth:`process` but returns (calcium, gliotransmission, every crossing index)."""
        x = _as_samples(samples)
        n = x.shape[0]
        o = self._laser(laser, n)
        out_c = np.empty(n, dtype=np.float64)
        out_g = np.empty(n, dtype=np.float64)
        # Consecutive reports are >= 2 samples apart (re-arming needs a sample in between).
        crossings = np.empty((n + 1) // 2 + 1, dtype=np.int64)
        code, count = K.process_record(x, o, self._cfg, self._st, out_c, out_g, crossings)
        if code < -1:
            self._raise_invalid(code, n, o)
        return out_c, out_g, crossings[:count].copy()


def predict_offline(
    samples: ArrayLike,
    params: AstrocyteParams | None = None,
    dt_s: float = 0.001,
    laser: ArrayLike | None = None,
    *,
    threshold: float = 0.5,
    on: Tracked = "calcium",
    lookahead_s: float = 0.0,
    input_offset: float = 0.0,
    input_scale: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the predictor over a whole recording from rest.

    Returns (calcium, gliotransmission, crossing indices). Bitwise identical to feeding the same
    samples through :meth:`Predictor.process` in chunks of any sizes.
    """
    pred = Predictor(
        params,
        threshold=threshold,
        on=on,
        lookahead_s=lookahead_s,
        dt_s=dt_s,
        input_offset=input_offset,
        input_scale=input_scale,
    )
    return pred.process_all(samples, 0.0 if laser is None else laser)
