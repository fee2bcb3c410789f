"""Per-row sampling: each row of a batch draws with its own temperature and top-k."""

import torch

from arcus_desktop.engine.generator import Sampling
from arcus_desktop.engine.row_sampling import MAX_TOP_K, RowSampling


def test_each_row_keeps_its_own_settings():
    torch.manual_seed(0)
    rows = RowSampling(3, torch.device("cpu"), Sampling())
    rows.set(0, Sampling(greedy=True))
    rows.set(1, Sampling(top_k=3, text_top_k=1))
    logits = torch.randn(3, 2048)
    allowed = set(logits[1].topk(3).indices.tolist())
    drawn = [rows.sample(logits, RowSampling.AUDIO) for _ in range(200)]
    assert all(int(d[0]) == int(logits[0].argmax()) for d in drawn)  # greedy
    assert {int(d[1]) for d in drawn} <= allowed  # top-3
    assert len({int(d[1]) for d in drawn}) > 1
    assert len({int(d[2]) for d in drawn}) > 10  # the defaults: temperature 0.8, top-250
    text = rows.sample(logits[:, :128], RowSampling.TEXT)
    assert int(text[1]) == int(logits[1, :128].argmax())  # text top-1


def test_top_k_is_capped():
    rows = RowSampling(1, torch.device("cpu"), Sampling(top_k=10_000))
    assert int(rows.top_k[0, RowSampling.AUDIO]) == MAX_TOP_K
