"""Recall: the memories most useful for a topic, from words (BM25) and meaning (vectors),
fused, then nudged by importance and recency. Words lead: the vectors count only as
much as the words leave room for. A question that names someone who speaks in the store
("What did Maya adopt?") is about that person's turns: the vectors search only those,
the name is not one of the words to match, and their turns come first. Chosen on the
tuning halves of two labelled sets and checked on their held-out halves
(docs/PERFORMANCE.md, bench/memory_quality.py)."""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass

from .store import MAX_QUERY_CHARS, STOPWORDS, Memory, MemoryStore

CANDIDATES = 50  # from each side before fusing
VECTOR_WEIGHT = 1.0  # of the vector score, next to BM25's 1, when the words match weakly...
CONFIDENT_BM25 = 10.0  # ...fading to nothing as the best BM25 score reaches this
SD_FLOOR = 0.03  # of cosine similarity
NEIGHBOUR_WEIGHT = 0.5  # of the better neighbouring turn's similarity, added to a turn's
SPEAKER_BONUS = 1.0  # added to a memory said by the person the question names
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
           now: float | None = None, boost: bool = True, distinct: bool = True) -> list[Hit]:
    if method not in METHODS:
        raise ValueError(f"unknown recall method {method!r}")
    query = query.strip()[:MAX_QUERY_CHARS]  # (a pasted page: every step costs more per word)
    if not query:
        return []
    keyword = vector = []
    # keyword, vector and rrf are the plain sides (what the default is measured against)
    names = store.speakers_named(query) if method == "hybrid" else set()
    said = _without(query, names)
    if not said:  # nothing but a name: search for the name as words
        said, names = query, set()
    if method != "vector":
        keyword = store.keyword_search(said, CANDIDATES, kinds, since, until,
                                       said_only=bool(names))
    confident = method == "hybrid" and keyword and -keyword[0][1] >= CONFIDENT_BM25
    if method != "keyword" and not confident:  # (the vectors would count for nothing)
        if method == "hybrid":
            vector = store.vector_search(store.embed_query(_content(said)), CANDIDATES, kinds,
                                         since, until, names or None, NEIGHBOUR_WEIGHT)
        else:
            vector = store.vector_search(store.embed_query(query), CANDIDATES, kinds, since, until)
    if method == "vector" or not keyword:
        fused = {num: 1.0 - d for num, d in vector} if method != "keyword" else {}
        if method == "hybrid":
            fused = {n: VECTOR_WEIGHT * s for n, s in fused.items()}
    elif method == "keyword" or (not vector and method == "rrf"):
        best = keyword[0][1]
        fused = {num: score / best for num, score in keyword}
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
        if m.speaker in names:
            score += SPEAKER_BONUS
        if boost:
            score *= 1.0 + IMPORTANCE_WEIGHT * _importance(m) + RECENCY_WEIGHT * _recency(m, now)
        hits.append(Hit(m, score, k_rank.get(num), v_rank.get(num)))
    hits.sort(key=lambda h: (-h.score, -h.memory.occurred_at))
    return _distinct(hits, k) if distinct else hits[:k]


_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _without(query: str, names: set[str]) -> str:
    """The query less the words of the names it says."""
    if not names:
        return query
    drop = {w for n in names for w in _WORD.findall(n.lower())}
    return " ".join(w for w in _WORD.findall(query) if w.lower() not in drop)


def _content(query: str) -> str:
    """What to embed: the content words only. wordllama averages its word vectors, so in a
    short question "what did … have" weighs as much as what it is about."""
    words = [w for w in _WORD.findall(query) if w.lower() not in STOPWORDS and len(w) > 1]
    return " ".join(words) or query


def _distinct(hits: list[Hit], k: int) -> list[Hit]:
    """The best `k` hits with the same text only once: the persona holds about five, and
    "Talk soon!" said in ten conversations fills them with nothing new."""
    seen, out = set(), []
    for h in hits:
        text = h.memory.content.casefold()
        if text not in seen:
            seen.add(text)
            out.append(h)
            if len(out) == k:
                break
    return out


def _weighted(keyword, vector) -> dict[int, float]:
    """BM25 scaled between its worst candidate (or half the best, whichever is lower) and
    its best, plus the cosine similarity as a z-score over the vector candidates (divided
    by 3 to sit near the same 0..1 range) times a weight that shrinks as the best BM25
    score grows: when the words match strongly, meaning adds nothing but noise (on a set
    of long chats between named people, any fixed vector weight fell below BM25 alone);
    when they match weakly (a paraphrase), it is what finds the answer. The floors keep a
    handful of near-equal candidates (a new user's store) from being spread to 0 and 1."""
    bm = [-s for _, s in keyword]  # bm25() is lower for better matches
    hi = max(bm)
    lo = min(min(bm), hi / 2)
    fused: dict[int, float] = {}
    for (num, _), s in zip(keyword, bm):
        fused[num] = (s - lo) / max(hi - lo, 1e-6)
    weight = VECTOR_WEIGHT * max(0.0, 1.0 - hi / CONFIDENT_BM25)
    if weight == 0.0 or not vector:
        return fused
    sims = [1.0 - d for _, d in vector]
    mean = sum(sims) / len(sims)
    sd = max(SD_FLOOR, (sum((s - mean) ** 2 for s in sims) / len(sims)) ** 0.5)
    for (num, _), s in zip(vector, sims):
        fused[num] = fused.get(num, 0.0) + weight * (s - mean) / (3 * sd)
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
