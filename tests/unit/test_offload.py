"""CPU offload (engine/offload.py) on the CPU: the layers stream through two slots and
the model computes exactly what it computes with its weights in place."""

import re

import numpy as np
import pytest
import torch

from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import checkpoint, generator, model, modes, offload, quant, testkit, weights
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.engine import Engine
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Generator, Sampling

PAIRS = [("bf16", "offload-bf16"), ("int8", "offload")]  # weights in place, streamed


def _steps(lm, lean: bool, sampling: Sampling = Sampling(greedy=True), seed: int = 0):
    """Two sessions, started at different frames, 12 frames with logits."""
    codes = torch.randint(0, 2048, (10, 8), generator=torch.Generator().manual_seed(0))
    plan = generator.plan_prompt(lm, [5, 6, 7, 8, 9], voice_codes=codes)
    user = torch.randint(0, 2048, (12, 2, 8), generator=torch.Generator().manual_seed(1))
    torch.manual_seed(seed)
    out = []
    with Generator(lm, 2, sampling, lean=lean) as gen:
        gen.start(0, plan)
        for i, u in enumerate(user):
            if i == 3:
                gen.start(1, plan)  # a prefill between steps
            out.append(gen.step(u, with_logits=True))
    return out


def _same(a, b) -> None:
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.frames, y.frames)
        assert torch.equal(x.text_logits, y.text_logits)
        assert torch.equal(x.audio_logits, y.audio_logits)


@pytest.mark.parametrize("lean", [True, False], ids=["lean", "moshi"])
@pytest.mark.parametrize("resident,streamed", PAIRS)
def test_streamed_layers_give_the_same_tokens_and_logits(tiny_model, resident, streamed, lean):
    files = checkpoint.ModelFiles(tiny_model)
    cpu = torch.device("cpu")
    want = model.load(files, cpu, quant_mode=resident).lm
    got = model.load(files, cpu, quant_mode=streamed).lm
    assert want.dtype == got.dtype == torch.float32
    _same(_steps(want, lean), _steps(got, lean))
    sampled = Sampling()  # sampling draws the same random numbers in the same order
    _same(_steps(want, lean, sampled, seed=3), _steps(got, lean, sampled, seed=3))


def test_an_odd_number_of_layers(tmp_path):
    # Two slots alternate; with three layers the last and the first share slot 0.
    kwargs = dict(testkit.TINY_LM_KWARGS, num_layers=3)
    with torch.no_grad():
        torch.manual_seed(5)
        from moshi.models.lm import LMModel

        testkit.save_lm(LMModel(device="cpu", dtype=torch.float32, **kwargs), tmp_path / "lm.safetensors")
    path = tmp_path / "lm.safetensors"
    kwargs, steps = checkpoint.lm_kwargs({"lm_kwargs": kwargs}, checkpoint.read_header(path))
    load = lambda mode: model.load_lm(path, kwargs, steps, torch.device("cpu"), torch.float32,
                                      quant_mode=mode)
    want, got = load("bf16"), load("offload-bf16")
    assert len(got.transformer.layers) == 3
    for lean in (True, False):
        _same(_steps(want, lean), _steps(got, lean))


def test_layer_stream_serves_each_layer_in_turn():
    # Five layers of odd-sized tensors of three dtypes, read back through the slots.
    g = torch.Generator().manual_seed(0)
    entries, data = {}, {}
    for i in range(5):
        for name, dtype, shape in (("self_attn.in_projs.0.weight", torch.bfloat16, [3, 5]),
                                   ("gating.linear_in.codes", torch.int8, [7, 3]),
                                   ("gating.linear_in.scales", torch.float16, [7, 1])):
            key = f"transformer.layers.{i}.{name}"
            entries[key] = (dtype, shape)
            data[key] = (torch.randn(shape, generator=g) * 50).to(dtype)
    stream = offload.LayerStream(entries, 5, torch.device("cpu"))
    views = stream.store(data)
    bases = [s.data_ptr() for s in stream.slots]
    assert all((v.data_ptr() - bases[offload.layer_of(k) % 2]) % offload.ALIGN == 0 for k, v in views.items())
    for _ in range(2):  # passes do not depend on the one before
        for i in range(5):
            stream.fetch(i)
            for key, want in data.items():
                if offload.layer_of(key) == i:
                    assert torch.equal(views[key], want), (i, key)
    assert stream.frame_bytes == 5 * stream.layer_bytes == stream.host_bytes


def test_streamed_entries_are_exactly_the_layer_matrices():
    assert offload.layer_of("transformer.layers.12.self_attn.in_proj_weight") == 12
    assert offload.layer_of("transformer.layers.3.gating.linear_out.codes") == 3
    for name in ("transformer.layers.3.norm1.alpha", "depformer.layers.0.gating.0.linear_in.weight",
                 "text_linear.weight", "emb.0.weight", "out_norm.alpha"):
        assert offload.layer_of(name) is None
    assert offload.split_mode("offload") == ("int8", True)
    assert offload.split_mode("offload-bf16") == ("bf16", True)
    assert offload.split_mode("int4") == ("int4", False)


@pytest.mark.parametrize("resident,streamed", PAIRS)
def test_loading_keeps_streamed_weights_in_host_memory(tiny_model, monkeypatch, resident, streamed):
    reads = []
    real_read = weights.read

    def spy(path, wanted, device, **kw):
        reads.append((device, set(wanted), set(kw.get("host", ()))))
        return real_read(path, wanted, device, **kw)

    monkeypatch.setattr(weights, "read", spy)
    files = checkpoint.ModelFiles(tiny_model)
    lm = model.load(files, torch.device("cpu"), quant_mode=streamed).lm
    monkeypatch.undo()
    ref = model.load(files, torch.device("cpu"), quant_mode=resident).lm
    stream = offload.stream_of(lm)

    # Every layer matrix is read into host memory, nothing else is.
    (_, wanted, host), = [r for r in reads if r[1] and "text_emb.weight" in r[1]]
    layers = len(lm.transformer.layers)
    assert host == {n for n in wanted if offload.layer_of(n) is not None}
    assert len(host) == 4 * layers
    assert stream.host.tensor.device.type == "cpu"
    if torch.cuda.is_available():  # the slots would be on the GPU, the layers pinned
        assert stream.host.tensor.is_pinned()

    # The model's layer matrices are views into the two slots; the host holds them all.
    slots = {s.untyped_storage().data_ptr() for s in stream.slots}
    state, ref_state = lm.state_dict(keep_vars=True), ref.state_dict(keep_vars=True)
    streamed_names = [n for n in state if offload.layer_of(n) is not None]
    where = {_module_name(n): w for n, w in stream.where.items()}
    assert streamed_names and sorted(streamed_names) == sorted(where)
    for name in streamed_names:
        assert state[name].untyped_storage().data_ptr() in slots, name
        layer, offset, _, _, nbytes = where[name]
        on_host = stream.host.tensor[layer, offset:offset + nbytes]
        assert torch.equal(on_host, ref_state[name].detach().contiguous().view(-1).view(torch.uint8)), name
    for name, tensor in state.items():
        if offload.layer_of(name) is None:
            assert tensor.untyped_storage().data_ptr() not in slots, name
    if streamed == "offload":
        assert state["transformer.layers.0.gating.linear_in.codes"].dtype == torch.int8

    # Memory that lives with the model: everything but the layers, plus two slots.
    def owned(m):
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes()
                    for t in m.state_dict(keep_vars=True).values()}
        return sum(storages.values())

    layer_bytes = sum(ref_state[n].numel() * ref_state[n].element_size() for n in streamed_names)
    assert owned(lm) == owned(ref) - layer_bytes + 2 * stream.layer_bytes
    assert stream.frame_bytes >= layer_bytes


def _module_name(entry: str) -> str:
    """moshi renames the checkpoint's attention matrices when it loads them."""
    return (entry.replace("self_attn.in_proj_weight", "self_attn.in_projs.0.weight")
            .replace("self_attn.out_proj.weight", "self_attn.out_projs.0.weight"))


def test_an_offload_conversation_is_the_int8_conversation(tiny_model):
    from ..conftest import AUDIO
    import sphn

    pcm = sphn.read(str(AUDIO / "input_service.wav"))[0][0, : C.FRAME_SIZE * 8]
    results = []
    for mode in ("int8", "offload"):
        engine = Engine.load(tiny_model, "cpu", quant_mode=mode, user_words=False)
        prepared = engine.prepare(Persona(text="You are a calm helper.", voice="NATF2"))
        torch.manual_seed(11)
        with FrameLoop(engine, prepared, Sampling()) as loop:
            frames = [loop.process(pcm[i * C.FRAME_SIZE:(i + 1) * C.FRAME_SIZE]) for i in range(8)]
        results.append((engine, frames))
    (int8, want), (streamed, got) = results
    assert [f.text_token for f in got] == [f.text_token for f in want]
    assert all(np.array_equal(a.pcm, b.pcm) for a, b in zip(got, want))
    assert streamed._model_id != int8._model_id  # cached persona states are per mode


# -- picking the mode --------------------------------------------------------------------

GIB = 2**30


@pytest.mark.parametrize("free_gib,mode,context", [
    (None, "server", None), (2.5, "server", None), (3.74, "server", None),
    (3.75, "offload", 1500), (4.0, "offload", 1500), (6.49, "offload", 1500),
    (6.5, "int4", 1500), (10.49, "int4", 1500), (10.5, "int8", None), (17.5, "bf16", None)])
def test_the_pick_at_the_boundaries(free_gib, mode, context):
    choice = modes.pick(None if free_gib is None else int(free_gib * GIB))
    assert (choice.mode, choice.context) == (mode, context)
    assert choice.note
    if mode == "offload":
        assert "slower than real time" in choice.note
    if mode == "server" and free_gib:
        assert "3.75 GiB" in choice.note


def test_the_offload_need_comes_from_the_real_shapes():
    """modes.py's byte counts, recomputed from PersonaPlex-7B built on the meta device and
    from the slot layout offload.py makes for one layer."""
    from moshi.models.lm import LMModel

    from arcus_desktop.engine.model import _no_init

    kwargs = dict(C.PERSONAPLEX_LM_KWARGS, dep_q=C.NUM_CODEBOOKS)
    with torch.device("meta"), _no_init():
        lm = LMModel(device="meta", dtype=torch.bfloat16, **kwargs)
    # The matrices the int8 mode quantizes (quant.py's targets), as module names.
    quantized = re.compile(r"^(transformer\.layers\.\d+\.(self_attn\.(in|out)_projs\.0|gating\.linear_(in|out))"
                           r"|depformer\.layers\.\d+\.(self_attn\.(in|out)_projs\.\d+|gating\.\d+\.linear_(in|out))"
                           r"|text_linear)$")
    resident = 0
    layer0 = {}
    for name, mod in lm.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            full = f"{name}.{pname}"
            if isinstance(mod, torch.nn.Linear) and quantized.match(name):
                assert quant.modules_for(_checkpoint_name(name), C.NUM_CODEBOOKS), name
                shapes = quant.state_shapes([name], list(p.shape), "int8")
                if offload.layer_of(full) is None:
                    resident += sum(d.itemsize * np.prod(s) for d, s in shapes.values())
                elif full.startswith("transformer.layers.0."):
                    layer0.update(shapes)
            else:
                assert offload.layer_of(full) is None, full
                resident += p.numel() * p.element_size()
    assert resident == modes.OFFLOAD_RESIDENT
    stream = offload.LayerStream(layer0, 1, torch.device("meta"))
    assert 2 * stream.layer_bytes == modes.OFFLOAD_SLOTS
    from moshi.models import loaders

    mimi = loaders.get_mimi(None, device="meta", num_codebooks=C.NUM_CODEBOOKS)
    assert sum(t.numel() * t.element_size() for t in [*mimi.parameters(), *mimi.buffers()]) == modes.MIMI_BYTES
    assert modes.kv_bytes(1500) == 32 * 2 * 1500 * 4096 * 2
    assert 3.6 * GIB < modes.offload_need() <= modes.NEEDS["offload"][0] < 3.8 * GIB


def _checkpoint_name(module: str) -> str:
    """The checkpoint tensor a quantized module comes from (attention is stored stacked)."""
    m = re.match(r"^(.*\.self_attn)\.(in|out)_projs\.\d+$", module)
    if m:
        return f"{m.group(1)}.in_proj_weight" if m.group(2) == "in" else f"{m.group(1)}.out_proj.weight"
    return module + ".weight"


def test_the_engine_host_accepts_offload():
    from arcus_desktop.engine import host

    for mode in ("offload", "offload-bf16"):
        assert host._mode(host.HostConfig(quant_mode=mode), events=None) == (mode, None)
