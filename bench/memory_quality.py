"""Retrieval quality of memory recall on the labelled test set (tests/data/memory_eval.json):
recall@5, hit@5 and MRR for keyword (BM25), vector, reciprocal-rank fusion and the
weighted fusion recall uses. With --sweep, the keyword weight is chosen on the odd
questions and reported on the even ones as well as on all.

    python bench/memory_quality.py [--sweep]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.memory import evaluate, recall  # noqa: E402
from arcus_desktop.memory.embedder import load_embedder  # noqa: E402
from arcus_desktop.memory.store import MemoryStore  # noqa: E402

DATA = ROOT / "tests" / "data" / "memory_eval.json"


def table(rows: list[evaluate.Scores], title: str) -> None:
    print(f"\n{title}\n| method | questions | recall@5 | hit@5 | MRR |\n|---|---|---|---|---|")
    for s in rows:
        print(f"| {s.method} | {s.questions} | {s.recall_at_k:.3f} | {s.hit_at_k:.3f} | {s.mrr:.3f} |")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sweep", action="store_true")
    ap.add_argument("--embedder", default="wordllama-256")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "eval.db", embedder=load_embedder(args.embedder))
        ids, questions = evaluate.load(store, DATA)
        print(f"{len(ids)} turns, {len(questions)} questions, embedder {store.embedder.name}")
        table([evaluate.score(store, ids, questions, m) for m in recall.METHODS], "all questions")
        for style in ("keyword", "mixed", "paraphrase"):
            subset = [q for q in questions if q.get("style") == style]
            table([evaluate.score(store, ids, subset, m) for m in recall.METHODS], f"{style} questions")
        table([evaluate.score(store, ids, questions[1::2], m) for m in recall.METHODS],
              "odd questions (the half the fusion was tuned on)")
        table([evaluate.score(store, ids, questions[0::2], m) for m in recall.METHODS],
              "even questions (held out)")
        if args.sweep:
            dev, test = questions[1::2], questions[0::2]
            print("\nkeyword weight | dev MRR | dev recall@5 | test MRR | test recall@5")
            for w in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
                recall.KEYWORD_WEIGHT = w
                d = evaluate.score(store, ids, dev, "hybrid")
                t = evaluate.score(store, ids, test, "hybrid")
                print(f"{w:.1f} | {d.mrr:.3f} | {d.recall_at_k:.3f} | {t.mrr:.3f} | {t.recall_at_k:.3f}")
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
