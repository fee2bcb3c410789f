"""Faults the store must survive: a lock held elsewhere, a full disk, a damaged file, no
embedding model."""

import subprocess
import sys
import threading

import pytest

from arcus_desktop.core.errors import DiskFullError
from arcus_desktop.memory.db import Database, MemoryBusyError
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
