"""What a task runs on: the state machine, the closed-loop signal pipeline (neural signal →
predictor → crossing events) and the operator's session controls. Below the tasks
(``rigctl.protocols``, ``rigctl.compat``) and the engine that runs a session of them, so a task
never imports the engine that imports it."""
