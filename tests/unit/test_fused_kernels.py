"""The fused kernels of the lean passes (engine/fused.py) against moshi and NVIDIA's
golden traces. They are GPU kernels; here they run in Triton's interpreter on the CPU,
in a fresh process because the interpreter is chosen when the kernels are defined."""

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("triton")

GOLDEN = r"""
import json, sys, torch
sys.path.insert(0, sys.argv[1])
torch.set_num_threads(1)
from arcus_desktop.engine import generator
from tests.unit.test_golden_traces import VECTORS, _load
trace = json.loads((VECTORS / "trace_greedy.json").read_text())
lm = _load("tiny_lm.safetensors", 8)  # the 8 steps a conversation runs
plan = generator.plan_prompt(lm, trace["text_prompt_tokens"],
                             voice_codes=torch.tensor(trace["voice_prompt_codes"]))
same, worst = [], 0.0
with generator.Generator(lm, 1, generator.Sampling(greedy=True)) as gen:
    used = [gen._lean_trunk.fused, gen._depformer.fused]
    gen.start(0, plan)
    for i, rec in enumerate(trace["conversation"]):
        out = gen.step(torch.tensor([trace["user_codes"][i]]), with_logits=True)
        top5 = out.text_logits[0].topk(5)
        argmax = out.audio_logits[0].argmax(-1).tolist()
        same.append(out.frames[0].tolist() == rec["output"]
                    and top5.indices.tolist() == rec["text_logits_top5_ids"]
                    and argmax == rec["depformer_argmax"][:8])
        worst = max(worst, float((top5.values - torch.tensor(rec["text_logits_top5_values"])).abs().max()))
print(json.dumps({"used": used, "same": same, "worst": worst}))
"""

BF16 = r"""
import json, sys, torch
from pathlib import Path
from arcus_desktop.engine import checkpoint, generator, model
files = checkpoint.ModelFiles(Path(sys.argv[2]))
dtypes = (torch.bfloat16, torch.bfloat16, torch.float32)
lms = [model.load(files, torch.device("cpu"), dtype=d).lm for d in dtypes]
codes = torch.randint(0, 2048, (10, 8), generator=torch.Generator().manual_seed(0))
plans = [generator.plan_prompt(lms[0], [5, 6, 7, 8, 9], voice_codes=codes),
         generator.plan_prompt(lms[0], [5, 6], voice_codes=codes[:4])]  # rows at other slots
user = torch.randint(0, 2048, (12, 2, 8), generator=torch.Generator().manual_seed(1))
# The fused pass and moshi's in bfloat16, and moshi's in float32 as the measure of what
# bfloat16 rounding alone costs.
gens = [generator.Generator(lm, 2, generator.Sampling(greedy=True), lean=lean)
        for lm, lean in zip(lms, (True, False, False))]
lean, ref, exact = gens
used = [lean._lean_trunk.fused, lean._depformer.fused]
for gen in gens:
    gen.start(0, plans[0])
    gen.start(1, plans[1])
def rel(x, y):
    return float((x - y).abs().max() / y.abs().max())
# In lockstep on the same tokens: a pick may differ only at a near tie (decided the other
# way by another rounding); the others are then given the fused run's picks, so every
# later step is still compared on equal inputs.
compared, ties, widest_tie, err_lean, err_ref = 0, 0, 0.0, 0.0, 0.0
for u in user:
    a, b, c = (gen.step(u, with_logits=True) for gen in gens)
    picks = [gen._cur[:, :1 + gen.dep_steps] for gen in gens]
    for r in range(2):
        # logits j decide pick j and see picks 0..j-1 only
        rows = [[o.text_logits[r]] + list(o.audio_logits[r]) for o in (a, b, c)]
        for j, (x, y, z) in enumerate(zip(*rows)):
            compared += 1
            err_lean, err_ref = max(err_lean, rel(x, z)), max(err_ref, rel(y, z))
            pa, pb, pc = (int(p[r, j]) for p in picks)
            if pa != pb or pa != pc:
                ties += 1
                gap = max(float(z.max() - z[p]) for p in (pa, pb, pc))  # below float32's best
                widest_tie = max(widest_tie, gap / float(z.abs().max()))
                break
    for gen in gens[1:]:
        gen._cur.copy_(lean._cur)
for gen in gens:
    gen.close()
print(json.dumps({"used": used, "compared": compared, "ties": ties, "widest_tie": widest_tie,
                  "err_lean": err_lean, "err_ref": err_ref}))
"""

WRAP = r"""
import json, sys, torch
from moshi.models.lm import LMModel
from arcus_desktop.engine import generator, testkit
torch.manual_seed(0)
lm = LMModel(device="cpu", dtype=torch.float32, **dict(testkit.TINY_LM_KWARGS, context=32)).eval()
plan = generator.plan_prompt(lm, [5, 6, 7], voice_codes=torch.randint(0, 2048, (6, 8)))
user = torch.randint(0, 2048, (30, 1, 8), generator=torch.Generator().manual_seed(1))
runs, used = [], []
for lean in (True, False):
    with generator.Generator(lm, 1, generator.Sampling(greedy=True), lean=lean) as gen:
        if lean:
            used = [gen._lean_trunk.fused, gen._depformer.fused, gen._lean_trunk.linear,
                    gen._depformer.linear]
        gen.start(0, plan)
        runs.append([gen.step(u, with_logits=True) for u in user])
same = [torch.equal(a.frames, b.frames) for a, b in zip(*runs)]
worst = max(float((a.text_logits - b.text_logits).abs().max()) for a, b in zip(*runs))
print(json.dumps({"used": used, "same": same, "worst": worst}))
"""


def _interpreted(code: str, *args: str, **env_vars: str) -> dict:
    """What `code` prints last, run with Triton's interpreter in a fresh Python."""
    env = dict(os.environ, TRITON_INTERPRET="1", ARCUS_FUSED="1", **env_vars)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-c", code, root, *args], capture_output=True,
                         text=True, env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fused_passes_reproduce_nvidias_golden_trace():
    """float32 inside every fused kernel: the whole greedy trace, tokens and logits."""
    result = _interpreted(GOLDEN)
    assert result["used"] == [True, True]
    assert all(result["same"]) and len(result["same"]) == 60
    assert result["worst"] < 1e-4


def test_fused_passes_equal_moshi_in_bfloat16(tiny_model):
    """Two rows at different positions in the ring, in the GPU's dtype: moshi's own
    forward passes give the same logits within bfloat16 rounding, step after step, and
    pick the same tokens but at near ties."""
    result = _interpreted(BF16, str(tiny_model))
    assert result["used"] == [True, True]
    # steps x rows x picks, but for those after a near tie in the same step
    assert result["compared"] >= 12 * 2 * 9 - 9 * result["ties"]
    assert result["ties"] <= 12, result  # rare; a wrong kernel shows in err_lean below
    assert result["widest_tie"] <= 2 * result["err_ref"], result
    assert result["err_lean"] <= 2 * result["err_ref"], result  # as close as moshi's bfloat16


@pytest.mark.parametrize("trunk_linear", ["0", "1"])
def test_fused_passes_equal_moshi_around_the_ring(trunk_linear):
    """A 32-slot ring, 30 steps after a 21-position persona: keys written and read across
    the wrap, in float32 (where moshi's pass and the fused one agree to rounding); the
    trunk's projections in torch's matmuls (the default) and in fused.linear."""
    result = _interpreted(WRAP, ARCUS_TRUNK_LINEAR=trunk_linear)
    assert result["used"] == [True, True, trunk_linear == "1", True]
    assert all(result["same"]) and len(result["same"]) == 30
    assert result["worst"] < 1e-4


PROBE = r"""
import json, torch
from arcus_desktop.engine import fused
works = fused._works(torch.device("cpu"))
fused._works.cache_clear()
# Stand-in for a Triton that cannot build its launcher (no C compiler on the laptop):
# the real failure needs a machine without one.
def broken(*a, **k):
    raise RuntimeError("Failed to find C compiler. Please specify via CC environment variable.")
fused.add_rms_norm = broken
print(json.dumps([works, fused._works(torch.device("cpu"))]))
"""


def test_kernels_are_checked_once_and_a_failure_falls_back():
    assert _interpreted(PROBE) == [True, False]


MIMI = r"""
import json, sys, torch
from pathlib import Path
from arcus_desktop.engine import checkpoint, fused, mimi_lean, model, rvq_lean, seanet_lean
torch.manual_seed(0)
mimi = model.load(checkpoint.ModelFiles(Path(sys.argv[2])), torch.device("cpu")).mimi
audio = torch.randn(2, 1, 1920 * 140) * 0.1
runs = []
seanet_lean.ENABLED = False  # 140 frames of it are too slow in the interpreter: its own test
for lean in (True, False):
    mimi_lean.ENABLED = rvq_lean.ENABLED = lean
    codes, out = [], []
    with torch.no_grad(), mimi.streaming(2):
        for i in range(140):
            mimi.set_exec_mask(torch.tensor([True, i not in range(30, 36)]))
            c = mimi.encode(audio[:, :, i * 1920:(i + 1) * 1920])
            codes.append(c)
            out.append(mimi.decode(c))
    runs.append((torch.cat(codes, -1), torch.cat(out, -1)))
(c, o), (rc, ro) = runs
print(json.dumps([fused.available(torch.device("cpu")), torch.equal(c, rc),
                  float((o - ro).abs().max() / ro.abs().max())]))
"""


def test_mimi_lean_pass_with_the_ring_kernel_equals_moshi(tiny_model):
    """Mimi's transformers through fused.ring_attention (2 queries a call, a 250-slot ring
    wrapped after 125 frames, a row paused) and its quantizer in rvq_lean's kernels:
    moshi's codes and audio."""
    available, same_codes, audio_err = _interpreted(MIMI, str(tiny_model))
    assert available and same_codes and audio_err < 1e-5


SEANET = r"""
import json, sys, torch
from moshi.models import loaders
from arcus_desktop.engine import mimi_lean, seanet_lean, testkit
torch.manual_seed(0)
config = testkit.TINY_MIMI_CONFIG if sys.argv[2] == "tiny" else None
frames = int(sys.argv[3])
mimi = loaders.get_mimi(None, config, device="cpu", num_codebooks=8).eval()
testkit.randomize_codebooks(mimi)
mimi_lean.install(mimi)
calls = []
for net in (mimi.encoder, mimi.decoder):
    net._moshi_forward = lambda *a, _f=net._moshi_forward: calls.append(1) or _f(*a)
audio = torch.randn(2, 1, 1920 * frames) * 0.1
runs = []
for mode in ("lean", "moshi", "alternating"):  # the last: each frame the other pass
    calls.clear()
    latents, out = [], []
    with torch.no_grad(), mimi.streaming(2):
        for i in range(frames):
            seanet_lean.ENABLED = mode == "lean" or (mode == "alternating" and i % 2 == 0)
            mimi.set_exec_mask(torch.tensor([True, i != 1]))  # row 1 paused a frame
            latent = mimi.encoder(audio[:, :, i * 1920:(i + 1) * 1920])
            latents.append(latent)
            out.append(mimi.decoder(mimi.upsample(mimi.downsample(latent))))
    runs.append((torch.cat(latents, -1), torch.cat(out, -1), len(calls)))
for lean in (True, False):  # all frames in one call (a voice recording), rows all running
    seanet_lean.ENABLED = lean
    with torch.no_grad(), mimi.streaming(2):
        latent = mimi.encoder(audio)
        runs.append((latent, mimi.decoder(mimi.upsample(mimi.downsample(latent))), 0))
ref_latent, ref_out, _ = runs[1]
errors = lambda l, o, ref_l, ref_o: [float((l - ref_l).abs().max() / ref_l.abs().max()),
                                     float((o - ref_o).abs().max() / ref_o.abs().max())]
print(json.dumps([[n, *errors(l, o, ref_latent, ref_out)] for l, o, n in runs[:3]]
                 + [errors(*runs[3][:2], *runs[4][:2])]))
"""


@pytest.mark.parametrize("shape,frames", [("tiny", 6), ("full", 2)])
def test_seanet_lean_pass_equals_moshi(shape, frames):
    """seanet_lean's convolutions (state, ELU, residuals, transposed convs' overlap) give
    moshi's latent and audio within float32 rounding, with a row paused a frame, frame
    by frame alternating with moshi's pass on the same state, and for all frames in one
    call (in pieces: the tiny run's 6 frames are 12 latent steps, over 8)."""
    lean, moshi, alternating, one_call = _interpreted(SEANET, shape, str(frames))
    assert lean[0] == 0 and moshi[0] == 2 * frames and alternating[0] == frames
    for latent_err, audio_err in (lean[1:], alternating[1:], one_call):
        assert latent_err < 1e-5 and audio_err < 1e-5


RVQ = r"""
import json, sys, torch
from moshi.models import loaders
from arcus_desktop.engine import mimi_lean, rvq_lean, testkit
torch.manual_seed(0)
config = testkit.TINY_MIMI_CONFIG if sys.argv[2] == "tiny" else None
mimi = loaders.get_mimi(None, config, device="cpu", num_codebooks=8).eval()
testkit.randomize_codebooks(mimi)
mimi_lean.install(mimi)
q = mimi.quantizer
x = torch.randn(3, q.rvq_first.input_proj.in_channels, 2)
calls = []
q._moshi_encode = lambda *a, _f=q._moshi_encode: calls.append(1) or _f(*a)
q._moshi_decode = lambda *a, _f=q._moshi_decode: calls.append(1) or _f(*a)
result = []
for n in (8, 32, 1):  # PersonaPlex's 8, speech-to-text's 32, the semantic code alone
    mimi.set_num_codebooks(n)
    with torch.no_grad():
        rvq_lean.ENABLED = True
        codes = q.encode(x)
        audio = q.decode(codes)
        lean_calls = len(calls)
        rvq_lean.ENABLED = False
        ref = q.encode(x)
        ref_audio = q.decode(codes)
    result.append([lean_calls == 0, list(codes.shape), torch.equal(codes, ref),
                   float((audio - ref_audio).abs().max() / ref_audio.abs().max())])
    calls.clear()
print(json.dumps(result))
"""


@pytest.mark.parametrize("shape", ["tiny", "full"])
def test_quantizer_kernels_equal_moshi(shape):
    """rvq_lean's encode (one kernel a code) and decode give moshi's codes and, within
    float32 rounding, its output, for 8, 32 and 1 codebooks; Mimi's real shape too."""
    for n, (lean_ran, shape_, same, err) in zip((8, 32, 1), _interpreted(RVQ, shape)):
        assert lean_ran and same and err < 1e-5
        assert shape_ == [3, n, 2]


SAMPLE = r"""
import json, torch
from arcus_desktop.engine import fused
from arcus_desktop.engine.row_sampling import RowSampling
from arcus_desktop.engine.generator import Sampling

def reference(logits, temp, k, noise):
    # moshi's draw written out: the k largest logits (ties: lowest index first),
    # softmax at the temperature, argmax of p / noise; temperature 0: the argmax.
    out = []
    for x, t, kk, e in zip(logits.float(), temp.tolist(), k.tolist(), noise):
        if t <= 0:
            out.append(int(x.argmax()))
            continue
        kk = len(x) if kk <= 0 or kk > len(x) else kk
        keep = torch.zeros(len(x), dtype=torch.bool)
        keep[sorted(range(len(x)), key=lambda i: (-float(x[i]), i))[:kk]] = True
        p = torch.softmax(x / t, -1)
        out.append(int(torch.where(keep, p / e, -1.0).argmax()))
    return out

g = torch.Generator().manual_seed(0)
exact = []
for V, dt in ((100, torch.bfloat16), (2048, torch.bfloat16), (32000, torch.bfloat16), (2048, torch.float32)):
    logits = torch.randn(6, V, generator=g).to(dt)  # bfloat16: ties
    logits[1, :10] = 5.0          # ten tied for the top, top-3
    logits[2] = logits[2].round()  # thousands of ties around the 7th largest
    logits[0] = -(logits[0].float().abs() * 10).round().to(dt)  # ties at a negative 25th largest
    temp = torch.tensor([0.8, 0.7, 1.0, 0.0, 0.5, 2.0])
    k = torch.tensor([25, 3, 7, 5, 0, V + 10])  # 0 and more than V: every token
    noise = torch.empty(6, V).exponential_(1, generator=g)
    exact.append(fused.sample(logits, temp, k, noise).tolist() == reference(logits, temp, k, noise))

# The distribution, with the kernel's own noise: 1000 draws of one row's top-4 at 0.8.
torch.manual_seed(1)
x = torch.randn(40, generator=g) * 2
n = 1000
drawn = fused.sample(x.expand(n, 40), torch.full((n,), 0.8), torch.full((n,), 4, dtype=torch.long))
top = x.topk(4).indices
want = torch.softmax(x[top] / 0.8, -1)
got = torch.tensor([(drawn == int(i)).float().mean() for i in top])
outside = int((~torch.isin(drawn, top)).sum())
sigma = (want * (1 - want) / n).sqrt()

# Per-row settings through RowSampling, strided views into its [B, 2] tensors.
rows = RowSampling(3, torch.device("cpu"), Sampling(), fused=True)
rows.set(0, Sampling(greedy=True))
rows.set(1, Sampling(top_k=1, text_top_k=1))
logits = torch.randn(3, 2048, generator=g)
text = rows.sample(logits, RowSampling.TEXT)
audio = rows.sample(logits, RowSampling.AUDIO)
argmax = logits.argmax(-1)
# Into a column of the next frame (stride 3) that holds a forced token in row 2.
frame = torch.tensor([[-1, 7, 7], [-1, 7, 7], [5, 7, 7]])
into = rows.sample(logits, RowSampling.AUDIO, frame[:, 0])
print(json.dumps({"exact": exact, "outside": outside,
                  "z": float(((got - want).abs() / sigma).max()),
                  "rows": [int(text[0]) == int(argmax[0]), int(audio[1]) == int(argmax[1]),
                           int(text[1]) == int(argmax[1]),
                           frame[:, 0].tolist()[:2] == argmax[:2].tolist(), int(frame[2, 0]) == 5,
                           into.data_ptr() == frame.data_ptr() and frame[:, 1:].eq(7).all().item()]}))
"""


def test_sampling_kernel_draws_as_moshi_does():
    """fused.sample (one kernel: top-k by bisection, no sort) against moshi's draw
    written out, with the same noise: the same token for rows with ties at the k-th
    logit, greedy rows, top-k 0 and k above the vocabulary, at 100, 2048 (audio) and
    32000 (text) entries in bfloat16 (16 bisection passes) and 2048 in float32 (32). With its own noise, 1000 draws of a top-4 match the exact
    probabilities (within 4.5 standard deviations, never outside the top 4). Drawn into a
    strided column, a row's forced token (>= 0) is kept and nothing else is written."""
    result = _interpreted(SAMPLE)
    assert result["exact"] == [True, True, True, True]
    assert result["outside"] == 0
    assert result["z"] < 4.5
    assert all(result["rows"])


LINEAR = r"""
import json, types, torch
import torch.nn.functional as F
from arcus_desktop.engine import fused
g = torch.Generator().manual_seed(0)
worst = {}
b = fused.LINEAR_BLOCKS  # the GPU's blocks: N and K off their multiples
for dt in (torch.float32, torch.bfloat16):
    for N, K in ((24, 8), (100, 96), (48, 1100)):  # N and K off the block sizes
        x, d = (torch.randn(2, 1, K, generator=g).to(dt) for _ in range(2))
        gx = torch.randn(2, 1, 2 * K, generator=g).to(dt)
        w = (torch.randn(N, K, generator=g) / K ** 0.5).to(dt)
        norm = types.SimpleNamespace(alpha=(torch.rand(K, generator=g) + 0.5).to(dt), eps=1e-5)
        total, h = fused.add_rms_norm(x, d, norm)
        cases = {"plain": (fused.linear(x, w, blocks=b), F.linear(x, w), x),
                 "add": (fused.linear(x, w, None, d, blocks=b), F.linear(x + d, w), x + d),
                 "norm": (fused.linear(x, w, norm, d, blocks=b), F.linear(h, w), total),
                 "gate": (fused.linear(gx, w, gate=True, blocks=b), F.linear(fused.silu_mul(gx), w), gx)}
        ln = torch.nn.LayerNorm(K, dtype=dt)
        torch.nn.init.normal_(ln.weight, 1.0, 0.2, generator=g)
        torch.nn.init.normal_(ln.bias, 0.0, 0.2, generator=g)
        res, scale = torch.randn(2, 1, N, generator=g).to(dt), torch.rand(N, generator=g).to(dt)
        with torch.no_grad():  # Mimi's: LayerNorm before, GELU before, LayerScale'd residual after
            cases["layer_norm"] = (fused.linear(x, w, ln, blocks=b), F.linear(ln(x), w), x)
            cases["gelu"] = (fused.linear(x, w, gelu=True, blocks=b), F.linear(F.gelu(x), w), x)
            cases["residual"] = (fused.linear(x, w, residual=res, scale=scale, blocks=b),
                                 torch.addcmul(res, scale, F.linear(x, w)), x)
        for name, ((y, s), ref, ref_s) in cases.items():
            err = float((y.float() - ref.float()).abs().max()) + float((s.float() - ref_s.float()).abs().max())
            key = f"{name} {dt}"
            worst[key] = max(worst.get(key, 0.0), err)
print(json.dumps(worst))
"""


def test_linear_kernel_equals_torch():
    """fused.linear with each prologue (none, the residual add, add + RMSNorm, the gate,
    LayerNorm, GELU) and the LayerScale'd residual after it, against torch's kernels: the
    same bfloat16 values (the residual within one rounding: torch's addcmul rounds once),
    float32 within rounding of the summation order; the residual sum it returns too."""
    worst = _interpreted(LINEAR)
    for name in ("plain", "add", "norm", "gate", "layer_norm", "gelu", "residual"):
        assert worst[f"{name} torch.bfloat16"] <= (0.0 if name != "residual" else 0.02), worst
        assert worst[f"{name} torch.float32"] < 1e-5, worst


EMBED = r"""
import json, torch
from moshi.models.lm_utils import ScaledEmbedding
from arcus_desktop.engine import fused
torch.manual_seed(0)
results = []
for dt in (torch.bfloat16, torch.float32):
    tables = [ScaledEmbedding(33, 24).to(dt)] + [ScaledEmbedding(9, 24).to(dt) for _ in range(4)]
    for t in tables:
        torch.nn.init.normal_(t.weight, 0.0, 3.0)  # large: every add rounds in bfloat16
    tokens = torch.randint(-1, 9, (2, 3, 5))
    tokens[0, 0] = -1  # a row of zeros only
    with torch.no_grad():
        want = tables[0](tokens[..., 0])
        for k in range(1, 5):
            want = want + tables[k](tokens[..., k])
        got = fused.Tables(tables).sum(tokens)
        column = tokens[:, :, 2:3].transpose(0, 1)  # strided rows, one table
        one = fused.Tables(tables[2:3]).sum(column)
        big = fused.Tables(tables[1:2]).sum(torch.tensor([[8], [9], [1000]]))  # past the table
    results.append([torch.equal(got, want), torch.equal(one, tables[2](column[..., 0])),
                    torch.equal(big, tables[1].weight[[8, 8, 8]])])
print(json.dumps(results))
"""


def test_embedding_kernel_sums_as_moshi():
    """fused.Tables: one kernel for moshi's ScaledEmbeddings summed in order (a token of -1
    gives zeros), bit for bit in bfloat16 (each add rounded as torch rounds it) and
    float32, for rows read through strides; a token past its table reads its last row,
    never memory after it."""
    assert _interpreted(EMBED) == [[True, True, True]] * 2


POSITIONS = r"""
import json, torch
from arcus_desktop.engine import fused
cap, context, half = 16, 10, 4
freqs = torch.rand(half, generator=torch.Generator().manual_seed(0))
same = []
for T in (1, 2):
    for end, offset in ((0, 0), (3, 3), (15, 15), (17, 40), (31, 31), (64, 70)):
        ends = torch.tensor([end, end + 1, end])
        offsets = torch.tensor([offset, offset + 1, offset])
        run = torch.tensor([True, True, False])  # the last row paused
        slots, allowed, filled, angle = fused.ring_positions(ends, offsets, run, T, cap, context, freqs)
        # moshi's RingKVCache, as engine/mimi_lean.py writes it in torch
        t = torch.arange(T)
        idx = torch.arange(cap)
        last = ends[:, None] + T - 1
        delta = idx[None] - last % cap
        pos_k = torch.where(delta <= 0, last + delta, last + delta - cap)
        pos_k = torch.where(idx[None] >= (ends + T * run.long())[:, None], -1, pos_k)
        gap = (offsets[:, None] + t)[:, :, None] - pos_k[:, None, :]
        want = (pos_k[:, None] >= 0) & (gap >= 0) & (gap < context)
        angles = freqs * (offsets.float()[:, None] + t.float())[:, :, None]
        same.append([torch.equal(slots, (ends[:, None] + t) % cap), torch.equal(allowed.bool(), want),
                     torch.equal(filled, torch.clamp(ends + T * run.long(), max=cap)),
                     torch.equal(angle, angles)])
print(json.dumps(same))
"""


def test_ring_positions_kernel_equals_moshis_ring():
    """fused.ring_positions (one kernel) against moshi's ring arithmetic in torch: the
    slots written, the slots each query may see (empty ones, the context's edge, a
    wrapped ring, a paused row), the filled count and RoPE's angles, for 1 and 2
    positions a call."""
    assert _interpreted(POSITIONS) == [[True] * 4] * 12


RING = r"""
import json, torch
import torch.nn.functional as F
from arcus_desktop.engine import fused
g = torch.Generator().manual_seed(0)
B, H, T, D, cap = 3, 2, 2, 16, 200  # 4 chunks of 64 slots
q = torch.randn(B, H, T, D, generator=g)
cache = torch.randn(2, B, H, cap, D, generator=g)
filled = torch.tensor([130, 0, 200])  # 3 chunks used, none (an empty ring), all
allowed = (torch.rand(B, T, cap, generator=g) < 0.7).to(torch.uint8)
allowed &= (torch.arange(cap) < filled[:, None, None]).to(torch.uint8)
allowed[:, :, 0] = torch.tensor([1, 0, 1])[:, None]  # every query of rows 0, 2 sees a slot
mask = allowed.bool()[:, None]
want = F.scaled_dot_product_attention(q, cache[0], cache[1], torch.where(mask, 0.0, float("-inf")))
want[1] = 0  # a row with nothing to see: zeros
out = fused.ring_attention(q, cache, allowed, filled)
tm = fused.ring_attention(q, cache, allowed, filled, time_major=True)
print(json.dumps([float((out - want).abs().max()), float((tm.transpose(1, 2) - want).abs().max())]))
"""


def test_ring_attention_equals_torch():
    """fused.ring_attention against torch's attention under the same mask: rows whose ring
    is filled part way (the chunks past it skipped), not at all and wholly, the output
    head-major or time-major."""
    assert max(_interpreted(RING)) < 1e-5
