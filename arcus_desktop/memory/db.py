"""Opening the memory database: a sqlite3 module that can load sqlite-vec, WAL, retries
when another process holds the lock, and a corrupt file moved aside instead of a crash."""

from __future__ import annotations

import errno
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.errors import ArcusError, DiskFullError


class MemoryBusyError(ArcusError):
    pass


class MemoryDatabaseError(ArcusError):
    pass


@dataclass
class Backend:
    """Which sqlite3-compatible module is in use, and whether vectors work with it."""

    module: object
    name: str
    vectors: bool
    why_not: str = ""

    def describe(self) -> str:
        sqlite_version = getattr(self.module, "sqlite_version", "?")
        vec = "sqlite-vec loaded" if self.vectors else f"no vectors ({self.why_not})"
        why = (" in place of this Python's sqlite3, which cannot load extensions"
               if self.name != "sqlite3" else "")
        return f"{self.name} (SQLite {sqlite_version}){why}, {vec}"


def _can_load(module) -> bool:
    return hasattr(module.Connection, "enable_load_extension")


def pick_backend() -> Backend:
    """The standard sqlite3 when it can load extensions, else a compatible module that can
    (some Python builds, like pyenv's default, leave extension loading out)."""
    import sqlite3

    candidates = [("sqlite3", sqlite3)]
    for name, mod in (("sqlean", "sqlean"), ("pysqlite3", "pysqlite3.dbapi2")):
        try:
            candidates.append((name, __import__(mod, fromlist=["connect"])))
        except ImportError:
            pass
    try:
        import sqlite_vec
    except ImportError:
        return Backend(sqlite3, "sqlite3", False, "sqlite-vec is not installed")
    for name, module in candidates:
        if not _can_load(module):
            continue
        try:
            conn = module.connect(":memory:")
            conn.enable_load_extension(True)
            conn.load_extension(sqlite_vec.loadable_path())
            conn.close()
        except Exception:  # a module whose SQLite rejects the extension: try the next
            continue
        return Backend(module, name, True)
    return Backend(sqlite3, "sqlite3", False,
                   "this Python's sqlite3 cannot load extensions; install sqlean-py")


@dataclass
class Database:
    """One connection to the memory database. Writes go through `write`, which retries
    while another process holds the lock and never leaves half a change behind."""

    path: Path
    backend: Backend = field(default_factory=pick_backend)
    notices: list[str] = field(default_factory=list)  # things the user should be told
    on_retry: Callable[[int], None] | None = None  # tests watch the retry loop through this
    retries: int = 6
    busy_timeout_s: float = 2.0  # SQLite's own wait for a lock, before our retries

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.conn = self._open()

    def _open(self):
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._connect()
            if conn.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise self.backend.module.DatabaseError("database disk image is malformed")
            return conn
        except self.backend.module.DatabaseError as e:
            if _is_locked(e):
                raise MemoryBusyError("The memory database is in use by another program.",
                                      "Close other copies of Arcus Desktop and try again.") from e
            moved = self._move_aside()
            self.notices.append(
                f"The memory database was damaged and could not be read ({e}). It was moved "
                f"to {moved.name} and a new, empty one was started; your recordings are "
                "untouched.")
            return self._connect()
        except OSError as e:
            raise _os_error(e, self.path) from e

    def _connect(self):
        conn = self.backend.module.connect(str(self.path), isolation_level=None,
                                           check_same_thread=False,
                                           timeout=self.busy_timeout_s)
        if self.backend.vectors:
            import sqlite_vec

            conn.enable_load_extension(True)
            conn.load_extension(sqlite_vec.loadable_path())
            conn.enable_load_extension(False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    def _move_aside(self) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.stem}.corrupt-{stamp}{self.path.suffix}")
        for suffix in ("", "-wal", "-shm"):
            src = Path(str(self.path) + suffix)
            if src.exists():
                src.replace(Path(str(target) + suffix))
        return target

    def read(self, sql: str, params=()) -> list:
        return self._retry(lambda: self.conn.execute(sql, params).fetchall())

    def write(self, fn: Callable[[object], object]):
        """Run fn(conn) in one IMMEDIATE transaction: all of it lands, or none of it."""

        def attempt():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(self.conn)
                self.conn.execute("COMMIT")
                return result
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

        return self._retry(attempt)

    def _retry(self, attempt):
        delay = 0.05
        for n in range(self.retries + 1):
            try:
                return attempt()
            except self.backend.module.OperationalError as e:
                if _is_full(e):
                    raise DiskFullError("The disk is full: the memory could not be saved.",
                                        "Free some space; nothing was half written.") from e
                if not _is_locked(e) or n == self.retries:
                    if _is_locked(e):
                        raise MemoryBusyError(
                            "The memory database stayed locked by another program.",
                            "Close other copies of Arcus Desktop and try again.") from e
                    raise
                if self.on_retry:
                    self.on_retry(n)
                time.sleep(delay)  # back off: the other writer needs the lock for a moment
                delay = min(delay * 2, 1.0)

    def close(self) -> None:
        self.conn.close()


def _is_locked(e: Exception) -> bool:
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _is_full(e: Exception) -> bool:
    return "full" in str(e).lower()


def _os_error(e: OSError, path: Path) -> ArcusError:
    if e.errno == errno.ENOSPC:
        return DiskFullError(f"The disk is full: {path.name} could not be created.",
                             "Free some space and start again.")
    return MemoryDatabaseError(f"The memory database at {path} cannot be opened ({e.strerror}).",
                               "Check that the folder exists and is writable.")
