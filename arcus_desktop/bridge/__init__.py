"""Qt-side services between the widgets and the engine, memory and sync layers."""
