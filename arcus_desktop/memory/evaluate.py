"""Retrieval quality on a labelled set of conversation turns and questions: recall@k and
MRR for each recall method. Used by bench/memory_quality.py and the quality test."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from .recall import recall
from .store import MemoryStore


@dataclass
class Scores:
    method: str
    questions: int
    recall_at_k: float  # share of answer turns found in the top k
    hit_at_k: float  # share of questions with at least one answer turn in the top k
    mrr: float  # mean of 1 / rank of the first answer turn (0 when not in the top 50)


def _time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def load(store: MemoryStore, path: str | Path) -> tuple[dict[str, str], list[dict]]:
    """Fill `store` with the set's turns as episodic memories. Returns the map from the
    set's turn ids to memory ids, and the questions."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    conv_ids = {}
    for c in data["conversations"]:
        conv_ids[c["id"]] = store.start_conversation(title=c.get("title", ""),
                                                     started_at=_time(c["started_at"]))
    ids = {}
    for t in data["turns"]:
        m = store.add("episodic", t["text"], speaker=t["speaker"],
                      conversation_id=conv_ids[t["conversation"]], occurred_at=_time(t["time"]),
                      source="conversation")
        ids[t["id"]] = m.id
    return ids, data["questions"]


def score(store: MemoryStore, ids: dict[str, str], questions: list[dict], method: str,
          k: int = 5, boost: bool = False) -> Scores:
    found = hits = 0
    total = 0
    rr = 0.0
    for q in questions:
        answers = {ids[a] for a in q["answers"]}
        ranked = [h.memory.id for h in recall(store, q["text"], k=50, method=method, boost=boost)]
        top = set(ranked[:k])
        found += len(answers & top)
        total += len(answers)
        hits += bool(answers & top)
        first = next((i for i, mid in enumerate(ranked) if mid in answers), None)
        rr += 0.0 if first is None else 1.0 / (first + 1)
    n = max(1, len(questions))
    return Scores(method, len(questions), found / max(1, total), hits / n, rr / n)
