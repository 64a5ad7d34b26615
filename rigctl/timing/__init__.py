"""Clocks (wall and virtual) and the timer heap: the time base every layer above the config
shares. Below the hardware layer (interlocks set timers) and the engine (the loop waits on the
clock), so neither has to import the other for it."""
