"""Session data on disk: the crash-safe writer, the signals file, the loaders.

``load_session`` reads one session folder (metadata, trials, events, signals on first access);
``load_sessions`` concatenates the trials of many into the DataFrame cohort analyses start from.
The summary figure (:mod:`rigctl.data.figures`, needs matplotlib) and the NWB export
(:mod:`rigctl.data.nwb`, needs the ``nwb`` extra) are imported on demand, so loading data never
pulls them in. Every file carries checksums (format 3): damage costs only the damaged rows,
which ``SessionData.damage`` lists (:mod:`rigctl.data.integrity`).
"""

from rigctl.data.integrity import Damage
from rigctl.data.loader import SessionData, load_session, load_sessions
from rigctl.data.signals import SignalsData, SignalWriter, read_signals
from rigctl.data.writer import SessionWriter

__all__ = [
    "Damage",
    "SessionData",
    "SessionWriter",
    "SignalWriter",
    "SignalsData",
    "load_session",
    "load_sessions",
    "read_signals",
]
