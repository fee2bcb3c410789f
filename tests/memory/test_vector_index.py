"""The in-memory vector index against sqlite-vec's exact search, and its coherence with
writes from other connections."""

from pathlib import Path

import numpy as np
import pytest

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


def _unit(*xs):
    v = np.array(xs, np.float32)
    return v / np.linalg.norm(v)


def test_speaker_filter_and_neighbouring_turns():
    index = vector_index.VectorIndex(4)
    index.put(1, "episodic", 1.0, _unit(1, 0, 0, 0), "Maya", "c")
    index.put(2, "episodic", 2.0, _unit(0, 1, 0, 0), "Leon", "c")
    index.put(3, "episodic", 3.0, _unit(0.1, 0, 0, 0.995), "Maya", "c")
    index.put(4, "episodic", 2.5, _unit(0.6, 0, 0.8, 0), "Maya", "d")  # another conversation
    query = _unit(1, 0, 0, 0)
    assert [n for n, _ in index.search(query, 4)] == [1, 4, 3, 2]
    assert [n for n, _ in index.search(query, 4, speakers={"Maya"})] == [1, 4, 3]
    assert index.search(query, 4, speakers={"Nobody"}) == []
    # 2 sits next to 1, the best match; 4 has no neighbour (its own similarity counts
    # again); 3's only neighbour is 2, not 4, which is of another conversation
    got = dict(index.search(query, 4, neighbours=0.5))
    assert list(got) == [1, 4, 2, 3]
    assert got[2] == pytest.approx(1 - 0.5, abs=1e-4) and got[3] == pytest.approx(1 - 0.1, abs=1e-4)
    assert got[4] == pytest.approx(1 - 0.9, abs=1e-4)
    index.remove(2)  # now 3 follows 1
    assert dict(index.search(query, 4, neighbours=0.5))[3] == pytest.approx(1 - 0.6, abs=1e-4)
