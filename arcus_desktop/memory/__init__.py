"""Memories: a local SQLite store (sqlite-vec + FTS5), recall, and conversation capture."""
