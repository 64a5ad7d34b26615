"""Session data on disk: the crash-safe writer and the loader."""

from rigctl.data.loader import SessionData, load_session

__all__ = ["SessionData", "load_session"]
