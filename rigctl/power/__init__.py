"""Simulation-based power analysis: how many mice and trials detect an effect, how often a
null "effect" is found. See docs/power.md; the command is ``rigctl power``."""

from rigctl.power.design import CONTRASTS, PowerDesign, check_grid
from rigctl.power.run import minimal_designs, run_power, summarise

__all__ = ["CONTRASTS", "PowerDesign", "check_grid", "minimal_designs", "run_power", "summarise"]
