"""Widgets only: tray, windows, dialogs. No business logic, never torch."""
