"""Recall: filters, the importance and recency nudges, and the measured quality of the
fusion on the labelled set (tests/data/memory_eval.json)."""

import time
from pathlib import Path

import pytest

from arcus_desktop.memory import evaluate
from arcus_desktop.memory.recall import recall

EVAL = Path(__file__).resolve().parents[1] / "data" / "memory_eval.json"


def test_filters_by_kind_and_date(store):
    old = store.add("semantic", "The budget for the offsite is 12000 euros", occurred_at=1000.0)
    new = store.add("episodic", "we talked about the offsite budget again", speaker="user",
                    occurred_at=5000.0)
    assert [h.memory.id for h in recall(store, "offsite budget", kinds=["semantic"])] == [old.id]
    assert [h.memory.id for h in recall(store, "offsite budget", since=2000.0)] == [new.id]
    assert [h.memory.id for h in recall(store, "offsite budget", until=2000.0)] == [old.id]
    assert recall(store, "   ") == []


def test_importance_and_pinning_break_ties(store):
    said = "the vendor call is on Thursday"
    a, b = (store.add("episodic", said, speaker="user", occurred_at=1000.0) for _ in range(2))
    store.update(a.id, importance=0.9)
    assert [h.memory.id for h in recall(store, "vendor call", k=2)] == [a.id, b.id]
    store.update(b.id, pinned=True)
    assert [h.memory.id for h in recall(store, "vendor call", k=2)] == [b.id, a.id]


def test_recent_beats_old_when_both_match_equally(store):
    now = time.time()
    old = store.add("episodic", "the standup moved to ten", speaker="user", occurred_at=now - 90 * 86400)
    new = store.add("episodic", "the standup moved to ten", speaker="user", occurred_at=now - 86400)
    hits = recall(store, "when is the standup", k=2, now=now)
    assert [h.memory.id for h in hits] == [new.id, old.id]


@pytest.fixture(scope="module")
def eval_store(tmp_path_factory, embedder):
    from arcus_desktop.memory.store import MemoryStore

    store = MemoryStore(tmp_path_factory.mktemp("eval") / "eval.db", embedder=embedder)
    ids, questions = evaluate.load(store, EVAL)
    yield store, ids, questions
    store.close()


def test_the_fusion_beats_keyword_and_vector_alone(eval_store):
    store, ids, questions = eval_store
    assert len(ids) >= 300 and len(questions) >= 100
    s = {m: evaluate.score(store, ids, questions, m) for m in ("hybrid", "keyword", "vector")}
    for other in ("keyword", "vector"):
        assert s["hybrid"].recall_at_k > s[other].recall_at_k, s
        assert s["hybrid"].mrr > s[other].mrr, s
