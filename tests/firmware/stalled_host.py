"""A host that sets the laser gate high and is then stopped (the test sends it SIGSTOP).

    python stalled_host.py PORT WATCHDOG_S MAX_ON_S

Connects rigctl's reward-controller driver to PORT, arms the gate limit as a session does
(``limit_high``), sets ctrl/out2 high, prints HIGH and then does nothing at all.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from serial_helpers import Sink, make_ctx  # noqa: E402

from rigctl.hardware import reward_controller as rc  # noqa: E402


def main() -> None:
    port, watchdog_s, max_on_s = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    settings = rc.Settings(port=port, watchdog_s=watchdog_s, heartbeat_s=min(0.2, watchdog_s / 2))
    dev = rc.open("ctrl", settings, make_ctx(Sink()))
    gate = dev.digital_output("ctrl/out2", "laser_gate")
    gate.limit_high(max_on_s)
    gate.set(True)
    print("HIGH", flush=True)
    time.sleep(120)


if __name__ == "__main__":
    main()
