"""Real-time astrocyte Ca²⁺ predictor: the SCIENCE.md astrocyte model as numba kernels, a streaming
wrapper for the control loop and an offline function for whole recordings."""

from .kernels import astro_step, integrate_chunk
from .params import AstrocyteParams
from .stream import Predictor, PredictorChunk, predict_offline

__all__ = [
    "AstrocyteParams",
    "Predictor",
    "PredictorChunk",
    "astro_step",
    "integrate_chunk",
    "predict_offline",
]
