"""Recall: the memories most useful for a topic, from words (BM25) and meaning (vectors),
fused, then nudged by importance and recency. The fusion was chosen on a measured test
set (docs/PERFORMANCE.md, bench/memory_quality.py)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .store import Memory, MemoryStore

CANDIDATES = 50  # from each side before fusing
KEYWORD_WEIGHT = 0.6  # of the fused score; the vector side gets the rest
IMPORTANCE_WEIGHT = 0.2
RECENCY_WEIGHT = 0.1
RECENCY_DAYS = 30.0
METHODS = ("hybrid", "keyword", "vector", "rrf")


@dataclass
class Hit:
    memory: Memory
    score: float
    keyword_rank: int | None  # 1-based place in the BM25 list, None when not in it
    vector_rank: int | None


def recall(store: MemoryStore, query: str, k: int = 5, kinds: list[str] | None = None,
           since: float | None = None, until: float | None = None, method: str = "hybrid",
           now: float | None = None, boost: bool = True) -> list[Hit]:
    if method not in METHODS:
        raise ValueError(f"unknown recall method {method!r}")
    query = query.strip()
    if not query:
        return []
    keyword = vector = []
    if method != "vector":
        keyword = store.keyword_search(query, CANDIDATES, kinds, since, until)
    if method != "keyword":
        vector = store.vector_search(store.embed_query(query), CANDIDATES, kinds, since, until)
    if method == "vector" or not keyword:
        fused = {num: 1.0 - d for num, d in vector} if method != "keyword" else {}
        if method == "hybrid":
            fused = {n: (1 - KEYWORD_WEIGHT) * s for n, s in fused.items()}
    elif method == "keyword" or not vector:
        best = keyword[0][1]
        fused = {num: score / best for num, score in keyword}
        if method == "hybrid":
            fused = {n: KEYWORD_WEIGHT * s for n, s in fused.items()}
    elif method == "rrf":
        fused = _rrf(keyword, vector)
    else:
        fused = _weighted(keyword, vector)
    k_rank = {num: i + 1 for i, (num, _) in enumerate(keyword)}
    v_rank = {num: i + 1 for i, (num, _) in enumerate(vector)}
    memories = store.by_nums(list(fused))
    now = now or time.time()
    hits = []
    for num, score in fused.items():
        m = memories.get(num)
        if m is None:
            continue
        if boost:
            score *= 1.0 + IMPORTANCE_WEIGHT * _importance(m) + RECENCY_WEIGHT * _recency(m, now)
        hits.append(Hit(m, score, k_rank.get(num), v_rank.get(num)))
    hits.sort(key=lambda h: (-h.score, -h.memory.occurred_at))
    return hits[:k]


def _weighted(keyword, vector) -> dict[int, float]:
    """A convex mix of the two scores, each scaled so its best candidate is 1. BM25 is
    scaled by its best score (lower is better, all negative); cosine similarity is
    scaled between the worst and best candidate, so a flat vector list counts little."""
    best_k = keyword[0][1]
    sims = [1.0 - d for _, d in vector]
    top, floor = max(sims), min(sims)
    spread = max(top - floor, 1e-6)
    fused: dict[int, float] = {}
    for num, score in keyword:
        fused[num] = KEYWORD_WEIGHT * (score / best_k)
    for num, sim in zip((n for n, _ in vector), sims):
        fused[num] = fused.get(num, 0.0) + (1 - KEYWORD_WEIGHT) * (sim - floor) / spread
    return fused


def _rrf(keyword, vector, c: float = 60.0) -> dict[int, float]:
    fused: dict[int, float] = {}
    for ranking in (keyword, vector):
        for i, (num, _) in enumerate(ranking):
            fused[num] = fused.get(num, 0.0) + 1.0 / (c + i + 1)
    return fused


def _importance(m: Memory) -> float:
    return (m.importance - 0.5) + (0.5 if m.pinned else 0.0)


def _recency(m: Memory, now: float) -> float:
    age_days = max(0.0, now - m.occurred_at) / 86400.0
    return math.exp(-age_days / RECENCY_DAYS)
