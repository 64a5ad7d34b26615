"""Parameters of the astrocyte reference model (SCIENCE.md, "Reference model").

The field descriptions are user-facing: the GUI shows them as tooltips and the docs list them, so
each one states the unit and what the parameter means biologically.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AstrocyteParams"]


class AstrocyteParams(BaseModel):
    """Astrocyte Ca²⁺ / gliotransmission model parameters (defaults: SCIENCE.md table).

    The model is frozen so that a :class:`~rigctl.predictor.Predictor` holding it can never drift
    out of sync with the numeric array it gave its kernels; derive a changed copy with
    ``AstrocyteParams.model_validate({**p.model_dump(), "k_i": 0.0})`` (validated, unlike
    ``model_copy(update=...)``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    tau_i_s: float = Field(
        1.5,
        gt=0,
        description="IP3 time constant (s): how long the IP3-like signal integrates neural drive.",
    )
    k_i: float = Field(
        1.0,
        ge=0,
        description="IP3 drive gain (1/s per unit neural activity); 0 models the IP3R2 knockout.",
    )
    k_half_i: float = Field(
        0.5,
        gt=0,
        description="IP3 level giving half-maximal Ca²⁺ release (dimensionless, like IP3).",
    )
    tau_c_s: float = Field(
        1.5, gt=0, description="Ca²⁺ time constant (s): how fast astrocytic Ca²⁺ follows IP3."
    )
    c_theta: float = Field(
        0.4,
        gt=0,
        lt=1,
        description="Ca²⁺ level (normalised, 0-1) above which gliotransmitter is released.",
    )
    u_a: float = Field(
        0.6,
        ge=0,
        le=1,
        description="Release utilisation (fraction, 0-1): share of the releasable pool used per "
        "unit of supra-threshold Ca²⁺.",
    )
    omega_a_per_s: float = Field(
        0.6, ge=0, description="Recovery rate of the releasable gliotransmitter pool (1/s)."
    )
    tau_g_s: float = Field(
        1.0, gt=0, description="Gliotransmitter clearance time constant at the synapse (s)."
    )
    tau_opto_s: float = Field(
        0.5,
        gt=0,
        description="Time constant (s) with which optogenetic inhibition (laser on) lowers Ca²⁺.",
    )
    cno_drive_per_s: float = Field(
        0.0,
        ge=0,
        description="hM3Dq + CNO constant IP3 drive (1/s); bypasses the neural drive, so it also "
        "acts in IP3R2-KO. 0 = no CNO; 0.5-1.0 rescues the knockout.",
    )

    def as_array(self) -> np.ndarray:
        """The parameters as a float64 array in field order, the layout the numba kernels index."""
        return np.array(
            [
                self.tau_i_s,
                self.k_i,
                self.k_half_i,
                self.tau_c_s,
                self.c_theta,
                self.u_a,
                self.omega_a_per_s,
                self.tau_g_s,
                self.tau_opto_s,
                self.cno_drive_per_s,
            ],
            dtype=np.float64,
        )

    def fastest_rate_per_s(self) -> float:
        """Largest decay rate (1/s) of the linearised model, with the laser fully on.

        The Jacobian is block-triangular (I → C → x, G), so its eigenvalues are the diagonal terms;
        the fixed-step integrator's step must stay well below 1 / this rate.
        """
        return max(
            1.0 / self.tau_i_s,
            1.0 / self.tau_c_s + 1.0 / self.tau_opto_s,
            self.omega_a_per_s + 5.0 * self.u_a,
            1.0 / self.tau_g_s,
        )
