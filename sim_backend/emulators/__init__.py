"""Emulated serial devices behind real pseudo-terminals.

Each emulator speaks its device's protocol on the master side of a pty; rigctl opens the slave
side with pyserial exactly as it opens a USB serial port, so the code paths that touch hardware
are the ones the tests and ``hardware_configs/serial_sim.yaml`` run. Every emulator records what
it received and did, with its own timestamps, so tests can compare a session's log with what
happened "on the device". Each one also runs as its own process::

    python -m sim_backend.emulators.reward_controller --mouse   # prints its pty path
    python -m sim_backend.emulators.obis

so fault tests can kill the engine alone and watch the device react (the controller's watchdog).
"""
