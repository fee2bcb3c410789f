"""Build moshi's LMModel and Mimi for a PersonaPlex checkpoint and load its weights."""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass
from pathlib import Path

from .torch_env import torch  # sets NO_TORCH_COMPILE before moshi loads

import sentencepiece
from moshi.models import loaders
from moshi.models.compression import MimiModel
from moshi.models.lm import LMModel
from ..core.errors import CheckpointShapeError, CorruptFileError, DeviceError
from ..core.modes import BF16, FP8
from . import checkpoint, mimi_lean, offload, packed, quant, quant_kernels, weights
from . import constants as C
from .tokenizer import load_tokenizer

_STEP_KEY = re.compile(r"^(depformer_in|linears|depformer_emb|depformer\.layers\.\d+\.gating)\.(\d+)\.")
_SPLIT_KEY = re.compile(r"^depformer\.layers\.\d+\.self_attn\.(in_projs|out_projs)\.(\d+)\.")


def _keep(name: str, dep_steps: int) -> bool:
    """Whether a checkpoint tensor belongs to the first `dep_steps` depformer steps."""
    for rx in (_STEP_KEY, _SPLIT_KEY):
        m = rx.match(name)
        if m:
            index = int(m.group(2))
            # depformer_emb.i feeds step i+1, so a model of n steps has n-1 of them.
            limit = dep_steps - 1 if m.group(1) == "depformer_emb" else dep_steps
            return index < limit
    return True


def _trimmed_shape(name: str, shape: list[int], ckpt_steps: int, dep_steps: int) -> list[int] | None:
    """The leading part of a stacked per-step depformer projection that `dep_steps` use."""
    if ckpt_steps != dep_steps and name.startswith("depformer.layers.") and (
        name.endswith("self_attn.in_proj_weight") or name.endswith("self_attn.out_proj.weight")
    ):
        return [shape[0] // ckpt_steps * dep_steps, *shape[1:]]
    return None


def _trim(name: str, tensor: torch.Tensor, ckpt_steps: int, dep_steps: int) -> torch.Tensor:
    shape = _trimmed_shape(name, list(tensor.shape), ckpt_steps, dep_steps)
    return tensor if shape is None else tensor[: shape[0]]


_INIT_FUNCTIONS = ("normal_", "uniform_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
                   "xavier_uniform_", "xavier_normal_", "zeros_", "ones_", "constant_")


@contextlib.contextmanager
def _no_init():
    """Skip parameter initialisation while building on the meta device: the checkpoint
    fills every value anyway, and meta-device init makes torch import its compiler stack
    (torch._dynamo, sympy: about 4 s of a cold start) just to run meta kernels."""
    saved = {name: getattr(torch.nn.init, name) for name in _INIT_FUNCTIONS}
    for name in _INIT_FUNCTIONS:
        setattr(torch.nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(torch.nn.init, name, fn)


FP8_UNSUPPORTED = ("This GPU has no 8-bit float arithmetic: the fp8 mode needs an NVIDIA GPU "
                   "of the Ada or Hopper generation or newer (RTX 40-series, L4, L40, H100).")
FP8_WAY_OUT = ("Choose \"Low memory: 8-bit weights\" in Settings > Engine (or --mode int8): "
               "the same memory on any recent NVIDIA GPU.")


def load_lm(
    path: Path,
    kwargs: dict,
    ckpt_steps: int,
    device: torch.device,
    dtype: torch.dtype,
    dep_steps: int = C.NUM_CODEBOOKS,
    quant_mode: str = BF16,
    progress=None,
    copy: packed.Copy | None = None,
) -> LMModel:
    """LMModel with `dep_steps` depformer steps (8 is all a conversation samples).

    Tensors stream straight from the file to `device`; the parts of depformer steps we
    do not run are never read. With `quant_mode` fp8, int8 or int4 the large matrices
    are quantized as they arrive (see quant.py). With OFFLOAD (int8) or OFFLOAD_BF16 the
    main transformer's matrices are read (and quantized) in host memory and stay there;
    the model streams them to `device` layer by layer (see offload.py). `copy`: the
    packed copy to read instead when it is there, or to write after this load.
    """
    precision, offloaded = offload.split_mode(quant_mode)
    if precision == FP8 and device.type == "cuda" and not quant_kernels.fp8_hardware(device):
        raise DeviceError(FP8_UNSUPPORTED, FP8_WAY_OUT)
    dep_steps = min(dep_steps, ckpt_steps)
    kwargs = dict(kwargs, dep_q=dep_steps)
    kwargs.pop("depformer_causal", None)
    with torch.device("meta"), _no_init():
        model = LMModel(device="meta", dtype=dtype, **kwargs)
    try:
        index = checkpoint.tensor_index(path)
        wanted = {name: _trimmed_shape(name, shape, ckpt_steps, dep_steps)
                  for name, (_, shape, _, _) in index.items() if _keep(name, dep_steps)}
        targets, tiled = {}, {}
        if precision != BF16:
            targets = {n: mods for n in wanted if (mods := quant.modules_for(n, dep_steps))}
            tiled = quant.swap_in(model, [m for mods in targets.values() for m in mods], precision,
                                  dtype, device)
        stream, streamed = None, frozenset()
        if offloaded:
            streamed = frozenset(n for n in wanted if offload.layer_of(n) is not None)
            stream = _layer_stream(index, {n: wanted[n] for n in streamed}, targets, precision, dtype,
                                   len(model.transformer.layers), device)

        convert = _converter(targets, tiled, precision, dtype, stream, streamed)
        state = _read_copy(copy, device, progress)
        if state is None:
            # Fewer readers when quantizing: each holds a bf16 matrix and its temporaries.
            state = weights.read(path, wanted, device, transform=convert,
                                 threads=2 if targets else weights.THREADS, progress=progress,
                                 host=streamed, read_again=copy is None)
            if copy is not None:
                copy.writer = packed.write_in_background(copy.target, state, copy.key)
    except torch.cuda.OutOfMemoryError as e:
        raise DeviceError(
            "The GPU ran out of memory while loading the model.",
            "Close other programs that use the GPU, or pick a low-memory mode or a team server.",
        ) from e
    except (OSError, RuntimeError) as e:
        raise CorruptFileError(
            f"{path.name} cannot be read: the file is damaged.", checkpoint.REDOWNLOAD_HINT, str(path)
        ) from e
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        first = str(e).splitlines()[1:2] or [str(e)]
        raise CheckpointShapeError(
            f"The weights do not fit the model described by config.json ({first[0].strip()}).",
            checkpoint.REDOWNLOAD_HINT,
        ) from e
    _materialize_buffers(model, device)
    if stream is not None:
        stream.attach(model)
    return model.eval()


def _converter(targets: dict, tiled: dict, precision: str, dtype: torch.dtype,
               stream: "offload.LayerStream | None" = None, streamed: frozenset = frozenset()):
    """A tensor as read → the model's state entries for it (quantized, cast, streamed)."""

    def convert(name: str, tensor: torch.Tensor) -> dict[str, torch.Tensor]:
        if name in targets:
            out = quant.split(*quant.quantize(tensor, precision), targets[name])
            if targets[name][0] in tiled:
                out = quant.pack(out, tiled[targets[name][0]])
        elif tensor.dtype.is_floating_point and tensor.dtype != dtype:
            out = {name: tensor.to(dtype)}
        else:
            out = {name: tensor}
        # Streamed weights go to host memory; the model gets views of its GPU slots.
        return stream.store(out) if name in streamed else out

    return convert


def random_slice(kwargs: dict, device: torch.device, dtype: torch.dtype, dep_steps: int,
                 quant_mode: str = BF16) -> LMModel:
    """The model of `kwargs` cut to one layer of each transformer, at its real width and
    with random weights, in `quant_mode`'s precision (not offloaded): every kernel of the
    full model at the same shapes, in a tenth of its memory (engine/kernel_warmup.py)."""
    precision, _ = offload.split_mode(quant_mode)
    kwargs = dict(kwargs, dep_q=dep_steps, num_layers=1)
    if dep_steps:
        kwargs["depformer_num_layers"] = 1
    kwargs.pop("depformer_causal", None)
    with torch.device("meta"), _no_init():
        model = LMModel(device="meta", dtype=dtype, **kwargs)
    gen = torch.Generator(device=device).manual_seed(0)
    drawn = {name: torch.ones(p.shape, dtype=dtype, device=device) if name.endswith("alpha")
             else torch.empty(p.shape, dtype=dtype, device=device).normal_(0.0, 0.02, generator=gen)
             for name, p in model.named_parameters()}
    drawn = published_layout(drawn)  # what convert() is given when reading a file
    targets, tiled = {}, {}
    if precision != BF16:
        targets = {n: mods for n in drawn if (mods := quant.modules_for(n, dep_steps))}
        tiled = quant.swap_in(model, [m for mods in targets.values() for m in mods], precision,
                              dtype, device)
    convert = _converter(targets, tiled, precision, dtype)
    state = {}
    for name in list(drawn):
        state.update(convert(name, drawn.pop(name)))
    model.load_state_dict(state, strict=True, assign=True)
    _materialize_buffers(model, device)
    return model.eval()


def published_layout(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An LMModel's state laid out as the published checkpoints store it: each attention's
    per-step projections stacked in one tensor."""
    state = dict(state)
    for prefix in {n.split(".self_attn.")[0] for n in state if ".self_attn." in n}:
        for split, joined in (("in_projs", "in_proj_weight"), ("out_projs", "out_proj.weight")):
            parts = sorted((n for n in state if n.startswith(f"{prefix}.self_attn.{split}.")),
                           key=lambda n: int(n.split(".")[-2]))
            if parts:
                state[f"{prefix}.self_attn.{joined}"] = torch.cat([state.pop(n) for n in parts])
    return state


def _read_copy(copy: packed.Copy | None, device: torch.device, progress) -> dict | None:
    """The state from the packed copy, or None to read the original (no copy, an
    outdated one, or one that fails to read: it is only a cache)."""
    if copy is None or packed.find(copy.target, copy.key) is None:
        return None
    try:
        state = weights.read(copy.target, dict.fromkeys(checkpoint.tensor_index(copy.target)),
                             device, progress=progress)
    except (CorruptFileError, OSError, RuntimeError):
        copy.target.unlink(missing_ok=True)
        return None
    copy.used = True
    return state


def _layer_stream(index: dict, wanted: dict, targets: dict, precision: str, dtype: torch.dtype,
                  layers: int, device: torch.device) -> offload.LayerStream:
    """Host memory and device slots laid out for the streamed tensors `wanted`, before
    any reading: entries as `convert` will hand them over."""
    entries = {}
    for name, shape in wanted.items():
        file_dtype, full, _, _ = index[name]
        shape = shape or full
        if name in targets:
            entries.update(quant.state_shapes(targets[name], shape, precision))
        else:
            kept = weights.DTYPES[file_dtype]
            entries[name] = (dtype if kept.is_floating_point else kept, shape)
    return offload.LayerStream(entries, layers, device)


def _materialize_buffers(model: torch.nn.Module, device: torch.device) -> None:
    for module in model.modules():
        for name, buf in list(module.named_buffers(recurse=False)):
            if buf.is_meta:
                module.register_buffer(name, torch.zeros(buf.shape, dtype=buf.dtype, device=device))
    leftovers = [n for n, p in model.named_parameters() if p.is_meta]
    if leftovers:
        raise CheckpointShapeError(
            f"The weights lack {len(leftovers)} tensors, e.g. {leftovers[0]}.",
            checkpoint.REDOWNLOAD_HINT,
        )


def load_mimi(path: Path, config: dict | None, device: torch.device) -> MimiModel:
    mimi = loaders.get_mimi(None, mimi_config=config, device=device, num_codebooks=C.NUM_CODEBOOKS)
    try:
        state = weights.read(path, dict.fromkeys(checkpoint.tensor_index(path)), device)
    except (OSError, RuntimeError) as e:
        raise CorruptFileError(
            f"{path.name} cannot be read: the file is damaged.", checkpoint.REDOWNLOAD_HINT, str(path)
        ) from e
    try:
        mimi.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointShapeError(
            "The Mimi codec weights do not fit the expected codec.", checkpoint.REDOWNLOAD_HINT
        ) from e
    mimi.set_num_codebooks(C.NUM_CODEBOOKS)
    mimi_lean.install(mimi)
    return mimi.eval()


@dataclass
class LoadedModel:
    files: checkpoint.ModelFiles
    lm: LMModel
    mimi: MimiModel
    tokenizer: sentencepiece.SentencePieceProcessor
    device: torch.device
    ckpt_dep_steps: int
    quant_mode: str = BF16
    copy: packed.Copy | None = None  # the packed copy of the 8-bit modes' weights


def load(
    files: checkpoint.ModelFiles,
    device: torch.device,
    dtype: torch.dtype | None = None,
    dep_steps: int = C.NUM_CODEBOOKS,
    quant_mode: str = BF16,
    context: int | None = None,
    progress=None,
) -> LoadedModel:
    """Check, then load every part of a checkpoint folder. `context` (frames the model
    attends back over) shrinks the KV cache for small GPUs; the default is the model's.
    `progress(fraction, what)` follows the reading of the weights (nearly all the time)."""
    from .torch_env import default_dtype

    config = checkpoint.read_config(files)
    header = checkpoint.read_header(files.lm)
    kwargs, ckpt_steps = checkpoint.lm_kwargs(config, header)
    if context:
        kwargs = dict(kwargs, context=context)
    checkpoint.read_header(files.mimi)
    tokenizer = load_tokenizer(files.tokenizer)
    if tokenizer.vocab_size() > kwargs["text_card"]:
        raise CheckpointShapeError(
            f"The tokenizer has {tokenizer.vocab_size()} pieces but the model knows "
            f"{kwargs['text_card']}.",
            checkpoint.REDOWNLOAD_HINT,
        )
    report = (lambda done, total: progress(0.95 * done / max(total, 1), "Reading the model"))
    dtype = dtype or default_dtype(device)
    copy = packed.copy_for([files.lm, files.config], quant_mode, dtype, min(dep_steps, ckpt_steps))
    lm = load_lm(files.lm, kwargs, ckpt_steps, device, dtype, dep_steps,
                 quant_mode, report if progress else None, copy)
    if progress:
        progress(0.95, "Loading the audio codec")
    mimi = load_mimi(files.mimi, checkpoint.mimi_config(config), device)
    return LoadedModel(files, lm, mimi, tokenizer, device, ckpt_steps, quant_mode, copy)
