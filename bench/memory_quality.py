"""Retrieval quality of memory recall on the two labelled sets: recall@5, hit@5 and MRR
for each recall method, on each set's tuning half and held-out half.

  tests/data/memory_eval.json       a product team and its assistant (138 questions);
                                    halves: odd / even questions
  tests/data/memory_eval_long.json  12 pairs of friends over months (1,054 questions,
                                    four kinds); halves: pairs 1-6 / 7-12

Every parameter of recall is chosen on the tuning halves; the held-out halves are what
to report.

    python bench/memory_quality.py [--set short|long|both] [--kinds] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.memory import evaluate, recall  # noqa: E402
from arcus_desktop.memory.embedder import load_embedder  # noqa: E402
from arcus_desktop.memory.store import MemoryStore  # noqa: E402

SETS = {"short": ROOT / "tests" / "data" / "memory_eval.json",
        "long": ROOT / "tests" / "data" / "memory_eval_long.json"}


def halves(name: str, questions: list[dict]) -> dict[str, list[dict]]:
    if name == "short":
        return {"tune": questions[1::2], "held-out": questions[0::2]}
    return {h: [q for q in questions if q["split"] == h] for h in ("tune", "held-out")}


def table(rows: list[evaluate.Scores], title: str) -> None:
    print(f"\n{title}\n| method | questions | recall@5 | hit@5 | MRR |\n|---|---|---|---|---|")
    for s in rows:
        print(f"| {s.method} | {s.questions} | {s.recall_at_k:.3f} | {s.hit_at_k:.3f} | {s.mrr:.3f} |")


def run(name: str, embedder_name: str, kinds: bool, methods=recall.METHODS) -> dict:
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "eval.db", embedder=load_embedder(embedder_name))
        ids, questions = evaluate.load(store, SETS[name])
        print(f"\n## {name} set: {len(ids)} turns, {len(questions)} questions, "
              f"embedder {store.embedder.name}")
        for half, qs in halves(name, questions).items():
            rows = [evaluate.score(store, ids, qs, m) for m in methods]
            table(rows, f"{name} set, {half} half")
            out[half] = {s.method: s.__dict__ for s in rows}
            if kinds and name == "long":
                for kind in ("single-hop", "multi-hop", "temporal", "open"):
                    sub = [q for q in qs if q["kind"] == kind]
                    rows = [evaluate.score(store, ids, sub, m) for m in methods]
                    table(rows, f"{name} set, {half} half, {kind}")
                    out[f"{half} {kind}"] = {s.method: s.__dict__ for s in rows}
        store.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("short", "long", "both"), default="both")
    ap.add_argument("--embedder", default="wordllama-256")
    ap.add_argument("--kinds", action="store_true", help="also per question kind (long set)")
    ap.add_argument("--out")
    args = ap.parse_args()
    names = ("short", "long") if args.set == "both" else (args.set,)
    results = {n: run(n, args.embedder, args.kinds) for n in names}
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
