"""``python -m gui``: run the GUI without the ``rigctl`` entry point (see gui.command)."""

from gui.command import main

if __name__ == "__main__":
    raise SystemExit(main())
