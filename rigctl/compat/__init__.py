"""Runtimes that let task files written for other rig software run on rigctl's engine."""
