"""Plain values every layer shares. Imports nothing heavy."""
