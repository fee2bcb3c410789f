"""The fused kernels compiled while the weights are read, not after "ready".

Triton compiles each kernel (fused.py, quant_kernels.py) for its shapes at first use
and keeps it in its on-disk cache. On the first start after installing, or after an
update of Triton, torch or the driver, that took 16 s of the H100's warm-up, after
"ready" (docs/PERFORMANCE.md): a click then waited for it. Here two child processes do
it while the engine reads the weights (a disk-bound wait; compiling is CPU-bound, one
core each): one runs the kernel check (fused.available), the other builds a slice of the
model (one layer of each transformer at the real width, random weights, the same
precision; speech-to-text likewise when it is installed) and runs the engine's own
warm-up on it, leaving every kernel at its real shapes in Triton's cache, where the real
warm-up finds them. Then a marker file in that cache says the kernels passed their check
for this model, precision, GPU and these library versions: later starts neither compile
nor check again.

`start` never fails the load: without a GPU, Triton or room on the GPU it does nothing,
and the warm-up compiles and checks as before.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import WARM_KERNELS_FLAG as FLAG  # cli.main hands it to main()

log = logging.getLogger(__name__)
SLICE_ROOM = 4 * 2 ** 30  # GPU memory beside the model's: the slice, its context, its streams
WAIT_S = 120.0  # the warm-up waits this long at most for the child, then compiles itself
KERNEL_SWITCHES = ("ARCUS_FUSED", "ARCUS_RING_ATTENTION", "ARCUS_TRUNK_LINEAR", "ARCUS_TRUNK_OUT_LINEAR",
                   "ARCUS_LEAN", "ARCUS_MIMI_LINEAR", "ARCUS_QUANT_KERNELS", "ARCUS_PDL", "TRITON_")
# ARCUS_COMPILE_AHEAD=0: no child (benchmarks compare; a way out should it misbehave).
ENABLED = os.environ.get("ARCUS_COMPILE_AHEAD", "1") != "0"
SOURCES = ("fused.py", "fused_triton.py", "quant_kernels.py", "trunk.py", "depformer.py",
           "mimi_lean.py", "rvq_lean.py", "seanet_lean.py",
           "codec_triton.py", "generator.py", "frame_step.py")


class Compiling:
    """The children at work: `wait()` before the first kernel runs here. True from
    wait() means the kernels passed their check on this GPU and are in the cache."""

    def __init__(self, procs: list[subprocess.Popen], marker: Path) -> None:
        self.procs, self.marker, self.started = procs, marker, time.monotonic()
        self.waited_s = 0.0  # how long wait() waited
        self._ok: bool | None = None if procs else marker.exists()

    def wait(self, timeout: float = WAIT_S) -> bool:
        if self._ok is not None:
            return self._ok
        t0 = time.monotonic()
        codes = []
        for proc in self.procs:
            try:
                codes.append(proc.wait(max(0.0, timeout - (time.monotonic() - self.started))))
            except subprocess.TimeoutExpired:
                proc.kill()
                codes.append(proc.wait())
                log.warning("compiling the fused kernels took over %.0f s; the warm-up goes on", timeout)
        self.waited_s = time.monotonic() - t0
        self._ok = codes == [0] * len(codes)
        if self._ok:
            try:
                self.marker.parent.mkdir(parents=True, exist_ok=True)
                self.marker.write_text(json.dumps({"compiled_s": round(time.monotonic() - self.started, 1)}))
            except OSError as e:  # a full disk: the next start compiles (from the cache) again
                log.warning("could not note the compiled kernels: %s", e)
        else:
            log.warning("compiling the fused kernels beforehand failed (exits %s)", codes)
        return self._ok

    def stop(self) -> None:
        """The load failed: the children's work is not wanted now."""
        from . import fused

        for proc in self.procs:
            proc.kill()
            proc.wait()
        fused.compiled_ahead(None)


class _CheckedElsewhere:
    """In the warm-up child: the check child checks the kernels."""

    waited_s = 0.0

    def wait(self, timeout: float = WAIT_S) -> bool:
        return True


def start(model_dir: Path, device, quant_mode: str, context: int | None, dep_steps: int,
          stt_dir: Path | None, need_bytes: float) -> Compiling | None:
    """Start compiling in child processes, when it is worth it: a CUDA GPU with Triton,
    a mode that keeps the model on it, room beside the model. Two children, each one
    process's serial work: the kernel check (fused.available) and the warm-up on the
    slice. With the marker there already (an earlier start did it), nothing to start:
    the kernels passed their check on this GPU, and the parent need not check again."""
    try:
        return _start(model_dir, device, quant_mode, context, dep_steps, stt_dir, need_bytes)
    except Exception as e:  # noqa: BLE001 -- only a head start: the warm-up compiles anyway
        log.warning("could not start compiling the fused kernels beforehand: %s", e)
        return None


def _start(model_dir, device, quant_mode, context, dep_steps, stt_dir, need_bytes):
    from . import fused, offload
    from .torch_env import torch

    if not ENABLED or device.type != "cuda" or not fused.ENABLED or fused._kernels() is None:
        return None
    job = {"model_dir": str(model_dir), "device": str(device), "quant_mode": quant_mode,
           "context": context, "dep_steps": dep_steps,
           "stt_dir": str(stt_dir) if stt_dir else None}
    marker = _marker(job, torch.cuda.get_device_name(device))
    if marker.exists():
        return Compiling([], marker)
    if offload.split_mode(quant_mode)[1]:  # a GPU too small to hold the model holds no slice
        return None
    free, _ = torch.cuda.mem_get_info(device)
    if free < need_bytes + SLICE_ROOM:
        return None
    command = [sys.executable] if getattr(sys, "frozen", False) else \
        [sys.executable, "-m", "arcus_desktop"]
    procs = [subprocess.Popen([*command, FLAG, json.dumps(dict(job, part=part, parent=os.getpid()))],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
             for part in ("check", "warm-up")]
    return Compiling(procs, marker)


def _cache_dir() -> Path:
    return Path(os.environ.get("TRITON_CACHE_DIR") or Path.home() / ".triton" / "cache")


def _marker(job: dict, gpu: str) -> Path:
    """Names what the compiled kernels depend on: the kernels' sources, the libraries,
    the GPU, the model's shape and precision, the switches that pick kernels."""
    import triton

    from .torch_env import torch

    here = Path(__file__).parent
    key = hashlib.sha256()
    for name in SOURCES:
        key.update((here / name).read_bytes())
    config = Path(job["model_dir"]) / "config.json"
    stt_config = Path(job["stt_dir"]) / "config.json" if job["stt_dir"] else None
    for path in (config, stt_config):
        key.update(path.read_bytes() if path is not None and path.exists() else b"-")
    switches = sorted((k, v) for k, v in os.environ.items() if k.startswith(KERNEL_SWITCHES))
    key.update(repr((triton.__version__, torch.__version__, torch.version.cuda, gpu,
                     job["quant_mode"], job["context"], job["dep_steps"], switches)).encode())
    return _cache_dir() / f"arcus-kernels-{key.hexdigest()[:24]}"


def main(argv: list[str]) -> int:
    """A child: the kernel check, or the warm-up on a slice of the model; exit 0 when
    it went through."""
    job = json.loads(argv[0])
    _end_with(job["parent"])
    if job["part"] == "check":
        from . import fused
        from .torch_env import torch

        return 0 if fused.available(torch.device(job["device"])) else 1
    _compile(job)
    return 0


def _end_with(parent: int) -> None:
    """Leave when the engine that started this child is gone (the app quit mid-load):
    its work is for that engine's warm-up."""
    import threading

    never = threading.Event()

    def watch() -> None:
        while not never.wait(0.5):
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="arcus-kernels-parent", daemon=True).start()


def _compile(job: dict) -> None:
    from moshi.models import loaders

    from . import checkpoint, fused, mimi_lean, model, testkit
    from . import constants as C
    from .engine import Engine
    from .generator import Sampling
    from .torch_env import default_dtype, torch

    device = torch.device(job["device"])
    files = checkpoint.locate(job["model_dir"])
    config = checkpoint.read_config(files)
    kwargs, ckpt_steps = checkpoint.lm_kwargs(config, checkpoint.read_header(files.lm))
    if job["context"]:
        kwargs = dict(kwargs, context=job["context"])
    dtype = default_dtype(device)
    lm = model.random_slice(kwargs, device, dtype, min(job["dep_steps"], ckpt_steps), job["quant_mode"])
    mimi = loaders.get_mimi(None, mimi_config=checkpoint.mimi_config(config), device=device,
                            num_codebooks=C.NUM_CODEBOOKS)
    testkit.randomize_codebooks(mimi)  # all-zero codebooks would code every frame alike
    mimi_lean.install(mimi)
    loaded = model.LoadedModel(files, lm, mimi.eval(), model.load_tokenizer(files.tokenizer),
                               device, ckpt_steps, job["quant_mode"])
    speech = _stt_slice(job, loaded) if job["stt_dir"] else None
    fused.compiled_ahead(_CheckedElsewhere())
    with tempfile.TemporaryDirectory() as cache:  # nothing of random weights is kept
        engine = Engine(loaded, cache_dir=Path(cache), stt=speech)
        engine.warm_up(sampling=Sampling(), keep=False)
        if device.type == "cuda":
            torch.cuda.synchronize(device)


def _stt_slice(job: dict, loaded):
    from . import checkpoint, model, stt, stt_checkpoint
    from .torch_env import default_dtype

    files = stt_checkpoint.locate(job["stt_dir"])
    kwargs = stt_checkpoint.lm_kwargs(files.config, checkpoint.read_header(files.lm))
    lm = model.random_slice(kwargs, loaded.device, default_dtype(loaded.device), 0,
                            stt.quant_mode_for(loaded.quant_mode))
    speech = stt.SpeechToText(lm, model.load_tokenizer(files.tokenizer), files)
    speech.prefix_codes = stt._silence_codes(loaded.mimi, speech.n_q, speech.prefix_frames)
    return speech
