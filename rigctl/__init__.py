"""rigctl: closed-loop behavioural rig control for working-memory experiments in mice."""

__version__ = "0.1.0"
