"""Operator commands that reach a running session from another thread or process.

The GUI (or any controller) may change protocol parameters and pause between trials while the
control loop runs. Both are handed over here, under a lock, and taken by the protocol at a trial
boundary, so a trial never runs with half-changed parameters.
"""

from __future__ import annotations

import threading

from pydantic import BaseModel


class SessionControls:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._params: BaseModel | None = None
        self._paused = threading.Event()
        self._finish_reason = ""

    def offer_params(self, params: BaseModel) -> None:
        """Validated parameters to apply from the next trial (a later offer replaces it)."""
        with self._lock:
            self._params = params

    def take_params(self) -> BaseModel | None:
        with self._lock:
            params, self._params = self._params, None
        return params

    def set_paused(self, paused: bool) -> None:
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    @property
    def paused(self) -> bool:
        return self._paused.is_set()

    def finish_after_trial(self, reason: str) -> None:
        """End the session at the next trial boundary (the trial in progress completes)."""
        with self._lock:
            self._finish_reason = self._finish_reason or reason
        self._paused.clear()

    @property
    def finish_reason(self) -> str:
        with self._lock:
            return self._finish_reason
