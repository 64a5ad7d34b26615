"""``pyControl.utility`` as a task sees it: variables, units and the random/maths helpers.

The state-machine functions (``goto_state``, ``set_timer``...) are methods of the runtime and
are added to this namespace by :func:`rigctl.compat.pycontrol.runtime.PyControlRuntime.utility`;
the helpers here only need the session's seeded random generator, so a seed reproduces a run.
Written from pyControl's public "programming tasks" reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

# Time units: pyControl counts time in milliseconds.
ms = 1
second = 1000
minute = 60 * second
hour = 60 * minute

HIDDEN_SUFFIX = "___"


class Variables:
    """The task's ``v``: attributes are task variables; names ending ``___`` are hidden from
    the variable dumps (run_start, run_end, print_variables without names)."""

    def public(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()
                if not k.endswith(HIDDEN_SUFFIX) and is_plain(v)}

    def pick(self, names: Sequence[str]) -> dict[str, Any]:
        return {k: getattr(self, k) for k in names if is_plain(getattr(self, k))}


def is_plain(value: Any) -> bool:
    """A value a pyControl board writes in variable rows: numbers, strings, None, lists,
    tuples and dicts. Objects (an ``Exp_mov_ave``, a ``Sample_without_replacement``) are left
    out, as a board leaves out every value that is an instance of a class."""
    return value is None or isinstance(value, (bool, int, float, str, list, tuple, dict))


class RandomHelpers:
    """pyControl's random functions on one seeded generator."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def random(self) -> float:
        return float(self.rng.random())

    def withprob(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def randint(self, a: int, b: int) -> int:
        return int(self.rng.integers(a, b + 1))

    def choice(self, items: Sequence[Any]) -> Any:
        return items[int(self.rng.integers(len(items)))]

    def shuffled(self, items: Sequence[Any]) -> list[Any]:
        order = self.rng.permutation(len(items))
        return [items[i] for i in order]

    def exp_rand(self, m: float) -> float:
        return float(self.rng.exponential(m))

    def gauss_rand(self, m: float, s: float) -> float:
        return float(self.rng.normal(m, s))

    def sample_class(self) -> type:
        helpers = self

        class sample_without_replacement:  # noqa: N801 - pyControl's name
            """Samples ``items`` in random order; starts again when all have been drawn."""

            def __init__(self, items: Sequence[Any]) -> None:
                self._items = list(items)
                self._next: list[Any] = []

            def __repr__(self) -> str:
                return f"sample_without_replacement({self._items!r})"

            def next(self) -> Any:
                if not self._next:
                    self._next = helpers.shuffled(self._items)
                return self._next.pop()

        return sample_without_replacement


class exp_mov_ave:  # noqa: N801 - pyControl's name
    """Exponential moving average with time constant ``tau`` samples."""

    def __init__(self, tau: float, init_value: float = 0) -> None:
        self.tau = tau
        self.init_value = init_value
        self.value = init_value
        self._alpha = 1.0 - math.exp(-1.0 / tau)

    def __repr__(self) -> str:  # written in variable rows: no memory address
        return f"exp_mov_ave(tau={self.tau!r}, value={self.value!r})"

    def update(self, sample: float) -> None:
        self.value += self._alpha * (sample - self.value)

    def reset(self, init_value: float | None = None) -> None:
        self.value = self.init_value if init_value is None else init_value


def mean(x: Sequence[float]) -> float:
    return sum(x) / len(x)


def helper_namespace(rng: np.random.Generator) -> dict[str, Any]:
    h = RandomHelpers(rng)
    swr = h.sample_class()
    return {
        "ms": ms, "second": second, "minute": minute, "hour": hour,
        "random": h.random, "withprob": h.withprob, "randint": h.randint, "choice": h.choice,
        "shuffled": h.shuffled, "exp_rand": h.exp_rand, "gauss_rand": h.gauss_rand,
        "sample_without_replacement": swr, "Sample_without_replacement": swr,
        "exp_mov_ave": exp_mov_ave, "Exp_mov_ave": exp_mov_ave, "mean": mean,
    }


STATE_MACHINE_API = (
    "goto_state", "goto", "timed_goto_state", "set_timer", "disarm_timer", "reset_timer",
    "pause_timer", "unpause_timer", "timer_remaining", "get_current_time", "publish_event",
    "print", "print_variables", "warning", "stop_framework", "v",
)
HELPER_API = (
    "ms", "second", "minute", "hour", "random", "withprob", "randint", "choice", "shuffled",
    "exp_rand", "gauss_rand", "sample_without_replacement", "Sample_without_replacement",
    "exp_mov_ave", "Exp_mov_ave", "mean",
)
API = frozenset(STATE_MACHINE_API + HELPER_API)
