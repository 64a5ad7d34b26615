"""Finding and loading a task of any kind by what the user typed: a built-in name, a task file,
an installed entry point, a protocol YAML or a pyControl file. Above every kind of task (it knows
them all) and below the engine, the commands and the GUI that ask for one."""
