"""Tasks: the public task API's base class and the built-in tasks, written on that API. How a
task is found by name, entry point or file is :mod:`rigctl.catalog`."""
