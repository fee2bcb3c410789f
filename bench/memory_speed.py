"""Memory speed on one CPU core: capture throughput (one committed memory per turn, as
the app stores them) and recall latency at 10k and 100k memories.

    python bench/memory_speed.py [--sizes 10000 100000] [--queries 200] [--set short|long]

--set short: turns of the product team's set, said by `user` and `assistant`, no
conversations (questions name nobody). --set long: turns of the long set with their
speakers (24 named people), in conversations of 25 turns, and its questions, which name
one of them: the path where recall searches one person's turns and looks at neighbours.
"""

from __future__ import annotations

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[var] = "1"  # one core, before numpy loads

import argparse  # noqa: E402
import json  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from arcus_desktop.memory.embedder import load_embedder  # noqa: E402
from arcus_desktop.memory.recall import recall  # noqa: E402
from arcus_desktop.memory.store import MemoryStore  # noqa: E402

SETS = {"short": ROOT / "tests" / "data" / "memory_eval.json",
        "long": ROOT / "tests" / "data" / "memory_eval_long.json"}
CONVERSATION_TURNS = 25


def turns(n: int, rng: random.Random, real: list[dict], vocab: list[str]) -> list[tuple[str, str]]:
    """Realistic-looking turns: a real turn from the test set with a few words swapped
    for others from its vocabulary, so no two are the same; (speaker, text)."""
    out = []
    for _ in range(n):
        turn = rng.choice(real)
        words = turn["text"].split()
        for _ in range(max(1, len(words) // 5)):
            words[rng.randrange(len(words))] = rng.choice(vocab)
        out.append((turn["speaker"], " ".join(words)))
    return out


def pct(xs: list[float], p: float) -> float:
    return float(np.percentile(xs, p))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--set", choices=tuple(SETS), default="short")
    ap.add_argument("--out")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    data = json.loads(SETS[args.set].read_text())
    named = args.set == "long"
    real = data["turns"]
    vocab = sorted({w for t in real for w in t["text"].split()})
    questions = [q["text"] for q in data["questions"]]
    rng = random.Random(7)
    embedder = load_embedder()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        store = MemoryStore(Path(tmp) / "speed.db", embedder=embedder)
        now = time.time()
        have = 0
        for size in sorted(args.sizes):
            batch = turns(size - have, rng, real, vocab)
            t0 = time.perf_counter()
            cid = None
            for i, (speaker, text) in enumerate(batch):
                if named and i % CONVERSATION_TURNS == 0:
                    cid = store.start_conversation(started_at=now - rng.random() * 365 * 86400)
                store.add("episodic", text,
                          speaker=speaker if named else ("user" if i % 2 else "assistant"),
                          conversation_id=cid, occurred_at=now - rng.random() * 365 * 86400,
                          source="conversation")
            capture_s = time.perf_counter() - t0
            t0 = time.perf_counter()
            store.maintain()  # what the end of each conversation does
            have = size
            row = {"memories": size, "capture_per_s": round(len(batch) / capture_s),
                   "maintain_s": round(time.perf_counter() - t0, 2)}
            for method in ("hybrid", "keyword", "vector"):
                times = []
                for q in (questions * 10)[: args.queries]:
                    t = time.perf_counter()
                    recall(store, q, k=5, method=method)
                    times.append((time.perf_counter() - t) * 1000)
                row[f"{method}_p50_ms"] = round(pct(times, 50), 2)
                row[f"{method}_p99_ms"] = round(pct(times, 99), 2)
            row["db_mb"] = round((Path(tmp) / "speed.db").stat().st_size / 1e6, 1)
            results.append(row)
            print(json.dumps(row), flush=True)
        store.close()
    print("\n| memories | capture /s | tidy-up | hybrid p50 | hybrid p99 | keyword p50 | vector p50 | file |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['memories']:,} | {r['capture_per_s']:,} | {r['maintain_s']} s | {r['hybrid_p50_ms']} ms | "
              f"{r['hybrid_p99_ms']} ms | {r['keyword_p50_ms']} ms | {r['vector_p50_ms']} ms | "
              f"{r['db_mb']} MB |")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
