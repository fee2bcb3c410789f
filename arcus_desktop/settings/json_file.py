"""Settings kept in a small JSON file of their own (sync.json, recording.json), beside
QSettings: one typed loader for all of them. A field of the wrong type takes its default;
a file that cannot be read as settings (too large, not JSON, a wrong type) is kept aside
as NAME.corrupt-STAMP.json, never overwritten, and the user is told where it went."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import types
import typing
from dataclasses import asdict, fields
from pathlib import Path
from typing import TypeVar

log = logging.getLogger(__name__)

MAX_BYTES = 64 * 1024  # a settings file is a few hundred bytes; more is not ours
T = TypeVar("T")
_notices: list[tuple[str, str]] = []  # (message, hint) for the user: see take_notices


def take_notices() -> list[tuple[str, str]]:
    """What the user should be told of damaged files found since the last call."""
    taken = list(_notices)
    _notices.clear()
    return taken


def load(path: Path, cls: type[T], save_defaults: bool = False) -> T:
    """The settings in `path` as a `cls` dataclass. Missing or unreadable: the defaults
    (written to `path` when `save_defaults`, e.g. for a device id that must stay)."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        settings = cls()
        if save_defaults:
            _save_quietly(path, settings)
        return settings
    except OSError as e:  # unreadable now (permissions, a device error): nothing to repair
        log.warning("%s could not be read (%s); the defaults are used this time.", path, e)
        return cls()
    values, problems = _parse(raw, cls)
    settings = cls(**values)
    if problems:
        moved = _move_aside(path)
        if moved is None:  # the original stays where it is: do not write over it
            log.warning("%s is damaged (%s); the readable settings are used this time.",
                        path, "; ".join(problems))
            _notices.append((f"The settings file {path.name} is damaged: the settings that "
                             "could be read are used, the others are back to their defaults.",
                             f"Check them in Settings; the file is {path}."))
            return settings
        log.warning("%s was damaged (%s); it was kept as %s and the settings that could be "
                    "read are used.", path, "; ".join(problems), moved.name)
        _notices.append((f"The settings file {path.name} was damaged: the settings that could "
                         "be read are used, the others are back to their defaults.",
                         f"Check them in Settings; the damaged file was kept as {moved}."))
        _save_quietly(path, settings)
    return settings


def save(path: Path, settings) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(asdict(settings), indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _parse(raw: bytes, cls) -> tuple[dict, list[str]]:
    """The fields that read as their type, and what was wrong with the rest."""
    if len(raw) > MAX_BYTES:
        return {}, [f"larger than {MAX_BYTES // 1024} KiB"]
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return {}, [f"not JSON: {e}"]
    if not isinstance(data, dict):
        return {}, ["not a JSON object"]
    hints = typing.get_type_hints(cls)
    values, problems = {}, []
    for f in fields(cls):
        if f.name not in data:
            continue  # not saved yet: its default (keys a newer version added are skipped)
        value = _typed(data[f.name], hints[f.name])
        if value is _WRONG:
            problems.append(f"{f.name} is not {_describe(hints[f.name])}")
        else:
            values[f.name] = value
    return values, problems


_WRONG = object()


def _typed(value, kind):
    """`value` as `kind` (bool, int, float, str, or one of those or None), or _WRONG."""
    if typing.get_origin(kind) in (typing.Union, types.UnionType):
        if value is None:
            return None
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if kind is bool:
        return value if isinstance(value, bool) else _WRONG
    if kind is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _WRONG
    if kind is float:  # JSON's NaN and Infinity are no setting
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok and math.isfinite(value) else _WRONG
    if kind is str:
        return value if isinstance(value, str) else _WRONG
    return _WRONG


def _describe(kind) -> str:
    names = [getattr(a, "__name__", str(a)) for a in typing.get_args(kind)] or [kind.__name__]
    return " or ".join("null" if n == "NoneType" else n for n in names)


def _move_aside(path: Path) -> Path | None:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.stem}.corrupt-{stamp}{path.suffix}")
    n = 1
    while target.exists():  # one kept aside this second already: keep both
        n += 1
        target = path.with_name(f"{path.stem}.corrupt-{stamp}-{n}{path.suffix}")
    try:
        path.replace(target)
    except OSError as e:
        log.warning("%s could not be moved aside: %s", path, e)
        return None
    return target


def _save_quietly(path: Path, settings) -> None:
    try:
        save(path, settings)
    except OSError as e:  # a read-only data folder: the settings still work for this run
        log.warning("%s could not be written: %s", path, e)
