"""Pick the agent a session simulates: the task's mapping, ``--agent``, or a user's file."""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np

from rigctl.config.agent import AgentChoice
from rigctl.errors import ConfigError
from sim_backend.agents.base import Agent
from sim_backend.agents.generic import GenericAgent
from sim_backend.agents.working_memory import WorkingMemoryAgent
from sim_backend.mouse import SimMouse
from sim_backend.settings import GenericAgentSettings


def make_agent(choice: AgentChoice, body: SimMouse, generic: GenericAgentSettings,
               rng: np.random.Generator) -> Agent:
    kind = choice.kind
    if kind == "auto":
        kind = "working_memory" if choice.mapping is not None else "generic"
    if kind == "working_memory":
        if choice.mapping is None:
            raise ConfigError(choice.task_source or "--agent", [
                "agent: working_memory needs the task to declare an agent mapping "
                "(`agent = WorkingMemoryMapping(...)`); use --agent generic"])
        return WorkingMemoryAgent(body, choice.mapping)
    if kind == "generic":
        return GenericAgent(body, generic, rng)
    if kind == "none":  # a subject that does nothing: tests script every input themselves
        return Agent(body)
    if kind == "drinker":  # no task running (manual control, calibration): it drinks, no more
        return Drinker(body)
    return _from_file(Path(kind), body, generic, rng)


class Drinker(Agent):
    """A subject in the box while no task runs: it licks out any water it is given."""

    def water(self, t: float, port: str, ul: float) -> None:
        self.lick_bout(t, port, ul)


def _from_file(path: Path, body: SimMouse, generic: GenericAgentSettings,
               rng: np.random.Generator) -> Agent:
    """An agent written by the user: a .py file with one Agent subclass taking ``body``."""
    if path.suffix != ".py" or not path.is_file():
        raise ConfigError("--agent", [f"{str(path)!r}: give auto, generic, working_memory, none "
                                      "or the path of a .py file that defines an Agent subclass"])
    spec = importlib.util.spec_from_file_location(f"rigctl_agent_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # noqa: BLE001 - the user's file, reported in one line
        raise ConfigError(str(path), [f"cannot be loaded ({type(exc).__name__}: {exc})"]) from None
    found = [c for _, c in inspect.getmembers(module, inspect.isclass)
             if issubclass(c, Agent) and c.__module__ == module.__name__]
    if len(found) != 1:
        raise ConfigError(str(path), [f"define exactly one Agent subclass (found {len(found)})"])
    return found[0](body)
