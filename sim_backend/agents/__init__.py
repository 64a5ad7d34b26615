"""Simulated subjects. The world keeps physics; an agent keeps behaviour.

An agent is told what the subject perceives (an output changed, water arrived at a port) and
answers by scheduling input edges through the world (``press``). Its ``body`` carries the
continuous dynamics the world integrates on the 1 kHz grid (neural activity, astrocytes), so
light from the laser acts on every agent the same way.
"""

from sim_backend.agents.base import Agent, AgentWorld
from sim_backend.agents.choose import make_agent
from sim_backend.agents.generic import GenericAgent
from sim_backend.agents.working_memory import WorkingMemoryAgent

__all__ = ["Agent", "AgentWorld", "GenericAgent", "WorkingMemoryAgent", "make_agent"]
