"""The rig GUI (PyQt5 + pyqtgraph): one tab per rig, each rig's engine in its own process.

Depends on :mod:`rigctl` and never the reverse; the core reaches it only through the
``rigctl.commands`` entry point (``rigctl gui``). See docs/gui.md.
"""
