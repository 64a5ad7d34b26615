"""Rig and subject configuration, loaded from YAML and validated with pydantic."""

from rigctl.config.loading import format_validation_error, read_yaml, validate
from rigctl.config.rig import RigConfig
from rigctl.config.subject import Subject

__all__ = ["RigConfig", "Subject", "format_validation_error", "load_rig", "read_yaml", "validate"]


def load_rig(path: str) -> RigConfig:
    """Load and validate a rig YAML file, including each device's backend settings.

    Raises ConfigError naming the file and one field per line on any problem.
    """
    from rigctl.config.backends import device_settings
    from rigctl.errors import ConfigError

    cfg = validate(RigConfig, read_yaml(path), str(path))
    problems = cfg.channel_problems()
    if problems:
        raise ConfigError(str(path), problems)
    device_settings(cfg, str(path))
    return cfg
