"""How a task tells a simulated subject what its outputs mean, and which subject to simulate.

A task that tests working memory declares, in a few names, what the subject must remember,
when the delay runs, when to respond and which input means which answer. The simulated world
knows none of this: it only forwards output changes to the agent, which reads them through
this mapping. Names refer to the rig's outputs and inputs, so `rigctl check` can verify them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from rigctl.config.strict import Strict

RULES = ("alternate", "match", "non_match", "go_nogo")


class WorkingMemoryMapping(Strict):
    """What the working-memory agent perceives and how it answers, for one task."""

    rule: Literal["alternate", "match", "non_match", "go_nogo"] = Field(
        description="alternate: go to the side not chosen last; match / non_match: to the cued "
        "side / the other side; go_nogo: respond after a go cue, withhold after a no-go cue"
    )
    sample_period: str | None = Field(
        None, description="Output that is on during the sample; its offset starts the delay"
    )
    sample_cues: dict[str, str] = Field(
        default_factory=dict,
        description="What each cue output shows: {left: OUTPUT, right: OUTPUT} "
        "(match, non_match) or {go: OUTPUT, nogo: OUTPUT} (go_nogo)",
    )
    go: str = Field(description="Output whose onset opens the response window")
    responses: dict[str, str] = Field(
        description="Input that gives each answer: {left: INPUT, right: INPUT}, or {go: INPUT}"
    )

    @model_validator(mode="after")
    def _complete(self) -> WorkingMemoryMapping:
        two_choice = self.rule != "go_nogo"
        keys = {"left", "right"} if two_choice else {"go"}
        if set(self.responses) != keys:
            raise ValueError(f"responses: rule {self.rule} needs exactly {sorted(keys)}")
        if self.rule in ("match", "non_match") and set(self.sample_cues) != {"left", "right"}:
            raise ValueError(f"sample_cues: rule {self.rule} needs left and right cue outputs")
        if self.rule == "go_nogo" and set(self.sample_cues) != {"go", "nogo"}:
            raise ValueError("sample_cues: rule go_nogo needs go and nogo cue outputs")
        if self.rule == "alternate" and self.sample_period is None:
            raise ValueError("sample_period: rule alternate needs the sample-period output")
        return self

    def outputs(self) -> list[tuple[str, str]]:
        """(field, output name) of every output the mapping refers to."""
        out = [("go", self.go)] + [(f"sample_cues.{k}", v) for k, v in self.sample_cues.items()]
        if self.sample_period is not None:
            out.append(("sample_period", self.sample_period))
        return out

    def inputs(self) -> list[tuple[str, str]]:
        return [(f"responses.{k}", v) for k, v in self.responses.items()]

    def rig_problems(self, outputs: list[str], inputs: list[str]) -> list[str]:
        """One line per name the rig lacks (field-naming, for `rigctl check`)."""
        have_out = ", ".join(outputs) or "none"
        problems = [f"agent.{f}: output {n!r} is not on this rig (outputs: {have_out})"
                    for f, n in self.outputs() if n not in outputs]
        problems += [f"agent.{f}: input {n!r} is not on this rig (inputs: "
                     f"{', '.join(inputs) or 'none'})" for f, n in self.inputs() if n not in inputs]
        return problems


AGENTS = ("auto", "working_memory", "generic", "none")


class AgentChoice(Strict):
    """Which simulated subject to run: ``auto`` takes the working-memory agent when the task
    has a mapping, else the generic one; or a path to a Python file defining an agent."""

    kind: str = Field("auto", description="auto, working_memory, generic, none (a subject "
                      "that does nothing), or a .py file")
    mapping: WorkingMemoryMapping | None = None
    task_source: str = ""
