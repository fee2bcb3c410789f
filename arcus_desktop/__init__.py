"""Arcus Desktop: a tray companion for full-duplex voice conversations with PersonaPlex."""

__version__ = "0.1.0"
