"""Faults the store must survive: a lock held elsewhere, a full disk, a damaged file, no
embedding model."""

import functools
import hashlib
import os
import shutil
import subprocess
import sys
import threading
import time
import types
from pathlib import Path

import pytest

from arcus_desktop.core.errors import DiskFullError
from arcus_desktop.memory.db import (Backend, Database, MemoryBusyError, MemoryDatabaseError,
                                     pick_backend)
from arcus_desktop.memory.embedder import EmbedderUnavailable, load_embedder
from arcus_desktop.memory.recall import recall
from arcus_desktop.memory.store import MemoryStore


class OtherProgram:
    """A second process holding the write lock. (Another sqlite library in this process
    would not do: POSIX locks are per process, so two SQLite copies in one process do not
    see each other's locks.)"""

    CODE = ("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], isolation_level=None); "
            "c.execute('BEGIN EXCLUSIVE'); print('locked', flush=True); sys.stdin.readline(); "
            "c.execute('COMMIT'); print('released', flush=True)")

    def __init__(self, path):
        self.proc = subprocess.Popen([sys.executable, "-c", self.CODE, str(path)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "locked"

    def release(self):
        if self.proc.poll() is None:
            self.proc.stdin.write("\n")
            self.proc.stdin.flush()
            assert self.proc.stdout.readline().strip() == "released"
            self.proc.wait(30)


def test_a_locked_database_is_retried_until_the_other_writer_lets_go(tmp_path, embedder):
    path = tmp_path / "memory.db"
    MemoryStore(path, embedder=embedder).close()
    other = OtherProgram(path)
    retries = []

    def on_retry(n):
        retries.append(n)
        if n == 1:
            other.release()

    store = MemoryStore(path, embedder=embedder,
                        database=Database(path, on_retry=on_retry, busy_timeout_s=0.01))
    m = store.add("semantic", "written after the lock was released")
    assert retries == [0, 1] and store.get(m.id) is not None


def test_a_lock_that_never_goes_away_gives_a_clear_error(tmp_path, embedder):
    path = tmp_path / "memory.db"
    MemoryStore(path, embedder=embedder).close()
    other = OtherProgram(path)
    store = MemoryStore(path, embedder=embedder,
                        database=Database(path, retries=2, busy_timeout_s=0.01))
    with pytest.raises(MemoryBusyError, match="locked") as e:
        store.add("semantic", "never lands")
    assert "Close other copies" in e.value.hint
    other.release()
    assert store.count() == 0


def test_disk_full_writes_nothing_half_and_keeps_what_was_there(tmp_path, embedder):
    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    kept = store.add("semantic", "saved before the disk filled up")
    pages = store.db.read("PRAGMA page_count")[0][0]
    store.db.conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLite's own 'disk full'
    with pytest.raises(DiskFullError, match="disk is full"):
        for i in range(500):
            store.add("episodic", f"turn {i} " + "long words " * 200, speaker="user")
    n = store.count()
    assert store.db.read("SELECT count(*) FROM memory_vec")[0][0] == n
    assert store.db.read("SELECT count(*) FROM memories_fts")[0][0] == n
    assert store.db.read("PRAGMA integrity_check")[0][0] == "ok"
    assert store.get(kept.id).content == "saved before the disk filled up"


@pytest.mark.parametrize("damage", ["garbage", "torn"])
def test_a_corrupt_database_is_moved_aside_and_a_fresh_one_started(tmp_path, embedder, damage):
    path = tmp_path / "memory.db"
    if damage == "garbage":
        path.write_bytes(b"this is not a database" * 100)
    else:
        store = MemoryStore(path, embedder=embedder)
        for i in range(200):
            store.add("episodic", f"turn {i} with some words to fill pages", speaker="user")
        store.db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        store.close()
        raw = bytearray(path.read_bytes())
        raw[8192:20480] = b"\xff" * 12288  # tear pages out of the middle
        path.write_bytes(bytes(raw))
    store = MemoryStore(path, embedder=embedder)
    assert any("damaged" in n and "moved" in n for n in store.notices)
    assert store.count() == 0
    store.add("semantic", "life goes on")
    aside = [p for p in tmp_path.iterdir() if ".corrupt-" in p.name and p.suffix == ".db"]
    assert len(aside) == 1


def _with_connection(factory) -> Backend:
    """The usual backend, its connections made by `factory` (a Connection subclass)."""
    real = pick_backend()
    module = types.SimpleNamespace(
        connect=functools.partial(real.module.connect, factory=factory),
        **{name: getattr(real.module, name) for name in (
            "DatabaseError", "OperationalError", "IntegrityError", "sqlite_version")})
    return Backend(module, real.name, real.vectors)


def _files(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in Path(folder).iterdir() if p.is_file()}


def _saved_store(path, embedder, n=3):
    store = MemoryStore(path, embedder=embedder)
    for i in range(n):
        store.add("episodic", f"turn {i} that must never be lost", speaker="user")
    store.close()
    return _files(path.parent)


def test_an_open_that_fails_for_another_reason_leaves_the_database_alone(tmp_path, embedder):
    # Audit: any error at open but "locked" counted as damage: a sound memory.db was moved
    # aside and the app started with an empty store.
    path = tmp_path / "memory.db"
    before = _saved_store(path, embedder)
    Path(f"{path}-wal").mkdir()  # SQLite cannot open its -wal: SQLITE_CANTOPEN, not damage
    with pytest.raises(MemoryDatabaseError, match="cannot be opened") as e:
        MemoryStore(path, embedder=embedder)
    assert "left as it is" in e.value.hint
    assert _files(tmp_path) == before  # not moved, not changed
    Path(f"{path}-wal").rmdir()
    store = MemoryStore(path, embedder=embedder)
    assert store.count() == 3 and store.notices == []
    store.close()


class _FullWhileChecking(pick_backend().module.Connection):
    """SQLite's own SQLITE_FULL, at the open's check: the temp space it works in has a
    page limit, and the check needs more. (A real full disk needs a mount, so root.)"""

    def execute(self, sql, *args):
        if sql == "PRAGMA quick_check":
            super().execute("CREATE TEMP TABLE IF NOT EXISTS scratch (x)")
            super().execute("PRAGMA temp.max_page_count = 2")
            super().execute("INSERT INTO temp.scratch VALUES (zeroblob(100000))")
        return super().execute(sql, *args)


@pytest.mark.parametrize("cause", ["sqlite full", "no space left"])
def test_a_full_disk_at_open_is_reported_and_the_database_kept(tmp_path, embedder, monkeypatch,
                                                                cause):
    # Audit: SQLITE_FULL at open moved the sound memory.db aside, the retry raised a raw
    # OperationalError, and once space was freed the app started empty without a word.
    path = tmp_path / "memory.db"
    before = _saved_store(path, embedder)
    with monkeypatch.context() as patch:
        if cause == "sqlite full":
            database = functools.partial(Database, path,
                                         backend=_with_connection(_FullWhileChecking))
        else:
            # What a full disk (a tmpfs, as root) gives at open: SQLITE_IOERR on the -shm
            # or -wal file. Here: a -wal SQLite cannot open, on a disk with no space left.
            Path(f"{path}-wal").mkdir()
            usage = shutil.disk_usage(tmp_path)
            patch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=0))
            database = functools.partial(Database, path)
        with pytest.raises(DiskFullError, match="disk is full") as e:
            MemoryStore(path, embedder=embedder, database=database())
    assert "untouched" in e.value.hint
    assert _files(tmp_path) == before
    if cause == "no space left":  # space freed
        Path(f"{path}-wal").rmdir()
    store = MemoryStore(path, embedder=embedder)
    assert store.count() == 3 and store.notices == []
    store.close()


def test_two_damaged_files_moved_aside_in_one_second_are_both_kept(tmp_path, monkeypatch):
    # Audit: the aside name had one-second resolution and replace() overwrote: the second
    # damaged file moved aside within a second destroyed the first.
    monkeypatch.setattr(time, "strftime", lambda *_: "20260101-120000")  # the clock stands still
    path = tmp_path / "memory.db"
    damaged = [b"first damaged file " * 300, b"second damaged file " * 300]
    for raw in damaged:
        path.write_bytes(raw)
        store = MemoryStore(path, embedder=None)
        assert any("damaged" in n for n in store.notices)
        store.close()
        path.unlink()
    aside = sorted(p.read_bytes() for p in tmp_path.glob("memory.corrupt-*.db"))
    assert aside == sorted(damaged)


_OTHER_OPENER = """
import sys
from arcus_desktop.memory.store import MemoryStore
store = MemoryStore(sys.argv[1], embedder=None)
store.add("semantic", "written by the other opener")
store.close()
"""


def test_a_damaged_file_already_replaced_by_another_opener_is_not_moved(tmp_path):
    # Audit: two openers at once both moved "the damaged file" aside: the second one moved
    # the first one's new database (and, within the same second, over the damaged original).
    path = tmp_path / "memory.db"
    damaged = b"not a database, but the user's only copy " * 300
    path.write_bytes(damaged)
    root = Path(__file__).resolve().parents[2]

    class OtherOpenerMeanwhile(pick_backend().module.Connection):
        """This opener's first connection is to the damaged file; right then another
        process opens it too, moves it aside and writes to a new one."""

        ran = False

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not OtherOpenerMeanwhile.ran:
                OtherOpenerMeanwhile.ran = True
                subprocess.run([sys.executable, "-c", _OTHER_OPENER, str(path)], check=True,
                               cwd=root, timeout=120,
                               env={**os.environ, "PYTHONPATH": str(root)})

    store = MemoryStore(path, embedder=None,
                        database=Database(path, backend=_with_connection(OtherOpenerMeanwhile)))
    assert [m.content for m in store.list()] == ["written by the other opener"]
    store.add("semantic", "and this opener writes to the same file")
    store.close()
    aside = list(tmp_path.glob("memory.corrupt-*.db"))
    assert [p.read_bytes() for p in aside] == [damaged]
    reopened = MemoryStore(path, embedder=None)
    assert reopened.count() == 2
    reopened.close()


def test_without_an_embedding_model_keyword_recall_still_works(tmp_path, monkeypatch):
    import arcus_desktop.memory.embedder as emb

    def broken(dim=256):
        raise FileNotFoundError("l2_supercat_256.safetensors")

    monkeypatch.setattr(emb, "WordLlamaEmbedder", broken)  # the weights went missing
    with pytest.raises(EmbedderUnavailable, match="could not be loaded"):
        load_embedder()
    store = MemoryStore(tmp_path / "memory.db")
    assert any("found by their words" in n for n in store.notices)
    store.add("semantic", "The designer we hired is Mara Lindqvist")
    hits = recall(store, "who is the designer?")
    assert hits and hits[0].memory.content.startswith("The designer")
    assert hits[0].vector_rank is None


def test_changing_model_re_embeds_in_the_background(tmp_path, embedder):
    from arcus_desktop.memory.embedder import WordLlamaEmbedder
    from arcus_desktop.memory.reembed import change_model

    store = MemoryStore(tmp_path / "memory.db", embedder=embedder)
    for i in range(600):
        store.add("episodic", f"note {i} on subject {i % 11}", speaker="user")
    progress = []
    done = threading.Event()

    def on_progress(n, total):
        progress.append((n, total))
        if n == total:
            done.set()

    worker = change_model(store, WordLlamaEmbedder(128), batch=200, on_progress=on_progress)
    store.add("semantic", "added while re-embedding")  # the app keeps writing meanwhile
    assert done.wait(60)
    worker.join(60)
    assert worker.error is None
    assert progress[-1][0] == progress[-1][1] >= 600
    assert store.pending_embeddings() == 0
