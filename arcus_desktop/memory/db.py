"""Opening the memory database: a sqlite3 module that can load sqlite-vec, WAL, retries
when another process holds the lock, and a corrupt file moved aside instead of a crash
(only a file SQLite calls damaged: any other failure leaves it where it is)."""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.errors import ArcusError, DiskFullError

# SQLite's primary result codes (the low byte of an extended one)
SQLITE_BUSY, SQLITE_LOCKED, SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 5, 6, 11, 13, 26
LOW_SPACE = 1 << 20  # free bytes below which a failed open is put down to a full disk


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
        with _open_lock(self.path):  # the app's threads open the same file at startup
            moved = None
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    return self._checked_connect()
                except _Damaged as damaged:
                    moved = self._move_aside(damaged.seen)
                    if moved:
                        self.notices.append(
                            f"The memory database was damaged and could not be read ({damaged}). "
                            f"It was moved to {moved.name} and a new, empty one was started; "
                            "your recordings are untouched.")
                return self._checked_connect()  # a new file, or the one another opener started
            except _Damaged as e:
                cause, error = e, MemoryDatabaseError(
                    f"The memory database at {self.path} is damaged ({e}) and could not be "
                    "moved aside.", "Move it out of the folder and start again.")
            except self.backend.module.DatabaseError as e:
                cause, error = e, self._open_error(e)
            except OSError as e:
                cause, error = e, _os_error(e, self.path)
            if moved:
                error.hint += f" The damaged memory database was kept as {moved.name}."
            raise error from cause

    def _checked_connect(self):
        """A connection to a sound file; _Damaged only when SQLite says the file is damaged."""
        seen = _file_id(self.path)  # the file this check is about, before connecting
        conn = None
        try:
            conn = self._connect()
            result = conn.execute("PRAGMA quick_check").fetchone()[0]
        except self.backend.module.DatabaseError as e:
            if conn is not None:
                conn.close()
            if _is_damage(e):
                raise _Damaged(str(e), seen) from e
            raise
        if result != "ok":
            conn.close()
            raise _Damaged("database disk image is malformed", seen)
        return conn

    def _open_error(self, e: Exception) -> ArcusError:
        """What a failed open tells the user. The file is left as it is: it may be sound."""
        if _is_locked(e):
            return MemoryBusyError("The memory database is in use by another program.",
                                   "Close other copies of Arcus Desktop and try again.")
        # A full disk fails the open on the -shm or -wal file, as a plain I/O error.
        if _is_full(e) or _free_bytes(self.path.parent) < LOW_SPACE:
            return DiskFullError("The disk is full: the memory database could not be opened.",
                                 "Free some space and start again; your memories are untouched.")
        return MemoryDatabaseError(f"The memory database at {self.path} cannot be opened ({e}).",
                                   "It was left as it is; check the folder and start again.")

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

    def _move_aside(self, seen) -> Path | None:
        """Keep the damaged file under a name no other file has, if it is still the file that
        was checked (another opener may have moved it and started a new one already)."""
        if seen is None or _file_id(self.path) != seen:
            return None
        tag = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"
        target = self.path.with_name(f"{self.path.stem}.corrupt-{tag}{self.path.suffix}")
        try:
            os.link(self.path, target)  # a second name for it: fails rather than replace a file
            linked = True
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system: renamed below instead
            linked = False
        if linked and _file_id(target) != seen:  # replaced between the check and the link
            target.unlink()
            return None
        for suffix in ("-wal", "-shm"):  # still the damaged file's, while it is in place
            src = Path(str(self.path) + suffix)
            if src.exists():
                _rename_new(src, Path(str(target) + suffix))
        if not linked:
            _rename_new(self.path, target)
        elif _file_id(self.path) == seen:
            self.path.unlink()
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


def _code(e: Exception) -> int | None:
    """SQLite's primary result code of an error, None when the module gives none."""
    code = getattr(e, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _is_locked(e: Exception) -> bool:
    if _code(e) is not None:
        return _code(e) in (SQLITE_BUSY, SQLITE_LOCKED)
    text = str(e).lower()
    return "locked" in text or "busy" in text


def _is_full(e: Exception) -> bool:
    if _code(e) is not None:
        return _code(e) == SQLITE_FULL
    return "full" in str(e).lower()


def _is_damage(e: Exception) -> bool:
    if _code(e) is not None:
        return _code(e) in (SQLITE_CORRUPT, SQLITE_NOTADB)
    text = str(e).lower()
    return "malformed" in text or "not a database" in text


class _Damaged(Exception):
    def __init__(self, why: str, seen) -> None:
        super().__init__(why)
        self.seen = seen  # _file_id of the damaged file


def _file_id(path: Path):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def _rename_new(src: Path, dst: Path) -> None:
    if os.path.lexists(dst):  # the names are unique: never replace what is there
        raise FileExistsError(errno.EEXIST, "already exists", str(dst))
    os.rename(src, dst)


def _free_bytes(folder: Path) -> int:
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return LOW_SPACE


_open_locks: dict[str, threading.Lock] = {}
_open_locks_guard = threading.Lock()


def _open_lock(path: Path) -> threading.Lock:
    with _open_locks_guard:
        return _open_locks.setdefault(os.path.realpath(path), threading.Lock())


def _os_error(e: OSError, path: Path) -> ArcusError:
    if e.errno == errno.ENOSPC:
        return DiskFullError(f"The disk is full: {path.name} could not be created.",
                             "Free some space and start again.")
    return MemoryDatabaseError(f"The memory database at {path} cannot be opened ({e.strerror}).",
                               "Check that the folder exists and is writable.")
