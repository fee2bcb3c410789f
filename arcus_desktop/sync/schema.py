"""The SQL a team applies to its Supabase project (`arcus-desktop sync print-schema`)."""

from __future__ import annotations

from importlib import resources


def schema_sql() -> str:
    return resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")
