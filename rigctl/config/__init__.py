"""Rig and subject configuration, loaded from YAML and validated with pydantic."""

from rigctl.config.loading import format_validation_error, read_yaml, validate
from rigctl.config.rig import RigConfig
from rigctl.config.subject import Subject

__all__ = ["RigConfig", "Subject", "format_validation_error", "load_rig", "read_yaml", "validate"]


def load_rig(path: str) -> RigConfig:
    """Load and validate a rig YAML file (ConfigError naming file and field on any problem)."""
    return validate(RigConfig, read_yaml(path), str(path))
