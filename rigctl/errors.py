"""Errors a user can act on.

Every exception that reaches the command line or the GUI as a message derives from
:class:`RigctlError`; its text is one line (or one line per problem) that names the file,
field or device and says what to do. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

#: Exit codes of the ``rigctl`` command (README, "Running sessions").
EXIT_OK = 0  #: the command did what was asked (a session ran to its end)
EXIT_ABORTED = 1  #: a session was stopped (Ctrl-C, SIGTERM, operator) or did not complete
EXIT_USAGE = 2  #: bad config, protocol, parameter or command line; nothing was run
EXIT_DEVICE = 3  #: a device failed, vanished or could not be opened


class RigctlError(Exception):
    """A problem the user can fix: bad config, bad parameter, missing device, unwritable disk."""

    exit_code = EXIT_USAGE


class ConfigError(RigctlError):
    """One or more invalid fields in a YAML file; ``problems`` holds one line each."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__("\n".join(f"{source}: {p}" for p in problems))


class DeviceError(RigctlError):
    """A device failed, vanished or answered with an error; the message names the device.

    Its own exit code (3), so a script can tell a hardware fault from a typo in a config.
    """

    exit_code = EXIT_DEVICE


class InterlockError(RigctlError):
    """A command was refused by a safety interlock from the rig config."""


class DataError(RigctlError):
    """A session folder or data file cannot be written or read."""
