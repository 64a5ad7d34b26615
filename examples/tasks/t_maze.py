"""Continuous T-maze alternation with doors and a centre nose-poke.

The mouse starts each trial with a poke in the centre port, which opens both arm doors. Its
first lick at an arm's reward port is its choice: the arm opposite to the previous choice is
correct and rewarded; the first trial is a free choice. The doors close after the choice, and a
delay (the return to the centre) must pass before the next centre poke counts.

Needs a rig with reward ports left and right, an input centre_poke and outputs door_left,
door_right and centre_light (hardware_configs/sim_tmaze.yaml):

    rigctl run hardware_configs/sim_tmaze.yaml --protocol examples/tasks/t_maze.py
"""

from dataclasses import dataclass

from rigctl.task import ENTRY, EXIT, Field, Requires, Task, TaskParams, col


class TMazeParams(TaskParams):
    n_trials: int = Field(60, ge=1, le=10_000, description="Trials in the session (count)")
    delay_s: float = Field(5.0, ge=0, le=300, description="Return delay before the next poke (s)")
    choice_window_s: float = Field(30.0, gt=0, le=600, description="Time to choose an arm (s)")
    reward_ul: float = Field(4.0, gt=0, le=50, description="Water per correct choice (µL)")


@dataclass
class TMazeTrial:
    trial: int = col("", "Trial number, from 1")
    poke_s: float = col("s", "Centre poke that started the trial")
    choice: str = col("", "left, right, or none (window ran out)", "none")
    correct: int | None = col("", "1 correct, 0 error, empty on the free first trial")
    choice_time_s: float | None = col("s", "Doors open to first lick")
    reward_ul: float = col("µL", "Water delivered", 0.0)


class TMaze(Task):
    name = "t_maze_alternation"
    Params = TMazeParams
    Trial = TMazeTrial
    states = ("wait_poke", "choice", "reward", "return_delay")
    initial_state = "wait_poke"
    events = ("centre_poke", "lick_left", "lick_right")
    requires = Requires(ports=("left", "right"), inputs=("centre_poke", "lick_left", "lick_right"),
                        outputs=("door_left", "door_right", "centre_light"))
    trial = None
    last = None
    n_done = 0

    def wait_poke(self, event):
        if event == ENTRY:
            if self.n_done >= self.p.n_trials:
                self.finish()
                return
            self.on("centre_light")
        elif event == "centre_poke":
            self.trial = TMazeTrial(trial=self.n_done + 1, poke_s=self.now())
            self.goto("choice")
        elif event == EXIT:
            self.off("centre_light")

    def choice(self, event):
        if event == ENTRY:
            self.on("door_left", "door_right")
            self.timed_goto("return_delay", self.p.choice_window_s)
        elif event in ("lick_left", "lick_right"):
            side = event.removeprefix("lick_")
            self.trial.choice, self.trial.choice_time_s = side, self.time_in_state()
            if self.last is not None:
                self.trial.correct = int(side != self.last)
            self.last = side
            self.goto("reward" if self.trial.correct != 0 else "return_delay")
        elif event == EXIT:
            self.off("door_left", "door_right")

    def reward(self, event):
        if event == ENTRY:
            self.trial.reward_ul = self.p.reward_ul
            self.deliver(self.trial.choice, self.p.reward_ul)
            self.timed_goto("return_delay", 1.0)

    def return_delay(self, event):
        if event == ENTRY:
            self.write_trial(self.trial)
            self.n_done += 1
            self.timed_goto("wait_poke", self.p.delay_s)
