"""The in-memory vector index against sqlite-vec's exact search, and its coherence with
writes from other connections."""

from pathlib import Path

import numpy as np

from arcus_desktop.memory import evaluate, vector_index
from arcus_desktop.memory.store import MemoryStore

EVAL = Path(__file__).resolve().parents[1] / "data" / "memory_eval.json"


def _exact(store, vec, k, kind=None):
    sql = "SELECT rowid FROM memory_vec WHERE embedding MATCH ? AND k = ?"
    params = [vec.tobytes(), k]
    if kind:
        sql += " AND kind = ?"
        params.append(kind)
    return [r[0] for r in store.db.read(sql, params)]


def test_index_agrees_with_sqlite_vec(store, monkeypatch):
    ids, questions = evaluate.load(store, EVAL)
    for i, m in enumerate(store.list(limit=60)):
        if i % 3 == 0:
            store.update(m.id, kind="semantic")
    queries = [store.embed_query(q["text"]) for q in questions[:40]]
    for vec in queries:  # small stores are searched exactly
        assert [n for n, _ in store.vector_search(vec, 10)] == _exact(store, vec, 10)
        assert [n for n, _ in store.vector_search(vec, 5, kinds=["semantic"])] == _exact(
            store, vec, 5, "semantic")
    monkeypatch.setattr(vector_index, "CANDIDATES", 100)  # force the sign-bit scan
    overlap = [len({n for n, _ in store.vector_search(v, 10)} & set(_exact(store, v, 10))) / 10
               for v in queries]
    assert np.mean(overlap) >= 0.8


def test_index_sees_other_connections_and_forgets_deleted(store, embedder):
    vec = store.embed_query("quarterly revenue review")
    assert store.vector_search(vec, 1) == []
    other = MemoryStore(store.path, embedder=embedder)
    m = other.add("semantic", "The quarterly revenue review is on the 9th")
    assert store.vector_search(vec, 1)[0][0] == m.num
    other.delete(m.id)
    assert store.vector_search(vec, 1) == []
    other.close()


def test_date_filters_in_the_index(store):
    a = store.add("episodic", "budget talk", speaker="user", occurred_at=100.0)
    b = store.add("episodic", "budget talk again", speaker="user", occurred_at=300.0)
    vec = store.embed_query("budget")
    assert [n for n, _ in store.vector_search(vec, 5, since=200.0)] == [b.num]
    assert [n for n, _ in store.vector_search(vec, 5, until=200.0)] == [a.num]
    assert store.vector_search(vec, 5, kinds=["procedural"]) == []
