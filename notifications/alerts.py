"""Data alerts, out of data and plan ended: asked for when the carrier's report is taken
in (esims/signals.py)."""
