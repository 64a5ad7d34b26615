"""Experiments: many subjects, each on its own rig, started and watched from one place.

An experiment file (:mod:`rigctl.experiment.config`) lists the subjects; :mod:`.plan` checks
it against the rigs before anything starts; :mod:`.lock` keeps a subject or a rig from being
run twice; :mod:`.runner` runs one engine process per rig (the GUI's
:class:`~rigctl.engine.remote.EngineProcess`) and stops each on its own;
:mod:`rigctl.data.subject_state` holds a subject's persistent task state between sessions.
``docs/experiments.md`` is the user guide.
"""
