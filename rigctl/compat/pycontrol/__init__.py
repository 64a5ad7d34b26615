"""Run pyControl task files on rigctl's engine (see docs/pycontrol.md).

Written from pyControl's public documentation; no pyControl code is used or copied.
"""

from rigctl.compat.pycontrol.binding import PyControlBinding, binding_of, default_binding
from rigctl.compat.pycontrol.runtime import TaskError
from rigctl.compat.pycontrol.task import PyControlTask, is_pycontrol_task, load_task

__all__ = ["PyControlBinding", "PyControlTask", "TaskError", "binding_of", "default_binding",
           "is_pycontrol_task", "load_task"]


def load_for_rig(config: str, task: str):  # noqa: ANN201 - (RigConfig, ProtocolSpec)
    """Rig config + a ProtocolSpec for a pyControl task file, bound by the config's
    ``pycontrol:`` section (or the default binding): what ``rigctl run --protocol task.py``
    uses."""
    from rigctl.config import load_rig

    cfg = load_rig(config)
    return cfg, load_task(task, binding_of(cfg))
