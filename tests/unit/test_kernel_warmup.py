"""The fused kernels compiled ahead in a child process (engine/kernel_warmup.py): the
model slice it builds, and the child itself run as the engine starts it, on the tiny
checkpoint on the CPU (Triton's interpreter: nothing is compiled here, but every step of
the child runs; the compile and its time are measured on the GPU, bench/warmup_gpu.py)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import checkpoint, generator, model
from arcus_desktop.engine.torch_env import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("mode", ["bf16", "int8", "int4", "fp8"])
def test_a_slice_has_one_layer_of_each_transformer_at_the_real_width(tiny_model, mode):
    files = checkpoint.locate(tiny_model)
    config = checkpoint.read_config(files)
    kwargs, steps = checkpoint.lm_kwargs(config, checkpoint.read_header(files.lm))
    full = model.load(files, torch.device("cpu"), quant_mode=mode).lm
    part = model.random_slice(kwargs, torch.device("cpu"), torch.float32, 8, mode)
    assert len(part.transformer.layers) == 1 and len(part.depformer.layers) == 1
    assert len(full.transformer.layers) > 1  # the tiny depformer has one already
    # The same modules with the same shapes, layer for layer: the kernels see what the
    # full model gives them.
    shapes = {n: (type(m).__name__, tuple(getattr(m, "weight", torch.empty(0)).shape))
              for n, m in full.named_modules()}
    for name, m in part.named_modules():
        assert shapes[name] == (type(m).__name__, tuple(getattr(m, "weight", torch.empty(0)).shape)), name
    plan = generator.plan_prompt(part, [5, 6, 7], voice_codes=torch.zeros(4, 8, dtype=torch.long))
    with generator.Generator(part, 1, generator.Sampling(greedy=True), cuda_graphs=False) as gen:
        gen.start(0, plan)
        frame = gen.step(torch.zeros(1, 8, dtype=torch.long)).frames
    assert frame.shape == (1, 17) and bool((frame >= 0).all())


def _child(job: dict, **env) -> subprocess.CompletedProcess:
    job = dict(job, parent=os.getpid())
    return subprocess.run([sys.executable, "-m", "arcus_desktop", "--warm-kernels", json.dumps(job)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env), capture_output=True,
                          text=True, timeout=600)


def test_the_children_run_the_check_and_the_warm_up_on_a_slice(tiny_model, tiny_stt, tmp_path):
    job = {"model_dir": str(tiny_model), "device": "cpu", "quant_mode": "bf16", "context": None,
           "dep_steps": 8, "stt_dir": str(tiny_stt)}
    env = {"TRITON_INTERPRET": "1", "TRITON_CACHE_DIR": str(tmp_path / "triton")}
    for part in ("check", "warm-up"):
        done = _child(dict(job, part=part), **env)
        assert done.returncode == 0, done.stderr[-3000:]
    # Nothing of its random weights is left where a real conversation would find it.
    cache = Path(os.environ["ARCUS_CACHE_DIR"])
    assert not cache.exists() or not any(cache.rglob("*"))


def test_a_child_that_fails_says_so(tmp_path):
    job = {"model_dir": str(tmp_path / "absent"), "device": "cpu", "quant_mode": "bf16",
           "context": None, "dep_steps": 8, "stt_dir": None, "part": "warm-up"}
    assert _child(job).returncode != 0


@pytest.fixture
def subreaper():
    """This test process adopts orphaned descendants (Linux), so it can read how one ended."""
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    assert prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
    yield
    prctl(36, 0, 0, 0, 0)


def test_a_child_whose_engine_is_gone_leaves(tiny_model, subreaper):
    # An engine process that starts the warm-up child and is killed at once (the app quit
    # during the load): the child must not go on compiling for nobody. Left alone it
    # would finish its warm-up and exit 0; it leaves with 1 when it sees its engine gone.
    job = {"model_dir": str(tiny_model), "device": "cpu", "quant_mode": "bf16", "context": None,
           "dep_steps": 8, "stt_dir": None, "part": "warm-up"}
    engine = subprocess.Popen(
        [sys.executable, "-c", "import json, os, subprocess, sys; "
         "job = dict(json.loads(sys.argv[1]), parent=os.getpid()); "
         "p = subprocess.Popen([sys.executable, '-m', 'arcus_desktop', '--warm-kernels', "
         "json.dumps(job)]); print(p.pid, flush=True); sys.stdin.read()", json.dumps(job)],
        env=dict(os.environ, PYTHONPATH=str(ROOT), TRITON_INTERPRET="1"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    child = int(engine.stdout.readline())
    engine.kill()
    engine.wait()
    _, status = os.waitpid(child, 0)  # adopted by this process once its engine died
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 1


def _procs(*codes):
    return [subprocess.Popen([sys.executable, "-c", f"raise SystemExit({c})"]) for c in codes]


def test_the_marker_is_written_when_every_child_went_through(tmp_path):
    from arcus_desktop.engine.kernel_warmup import Compiling

    marker = tmp_path / "triton" / "arcus-kernels-x"
    assert not Compiling(_procs(0, 1), marker).wait() and not marker.exists()
    assert Compiling(_procs(0, 0), marker).wait() and marker.exists()
    # A later start finds it: nothing to wait for, and the kernels count as checked.
    later = Compiling([], marker)
    assert later.wait(timeout=0) and later.waited_s == 0


def test_a_child_that_hangs_is_ended_and_the_warm_up_goes_on(tmp_path):
    from arcus_desktop.engine.kernel_warmup import Compiling

    hung = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                            stdin=subprocess.PIPE)  # blocks until killed: stdin never closes
    assert not Compiling([hung], tmp_path / "m").wait(timeout=0.5)
    assert hung.poll() is not None


def test_on_the_cpu_nothing_is_compiled_ahead(tiny_model):
    from arcus_desktop.engine import kernel_warmup

    assert kernel_warmup.start(tiny_model, torch.device("cpu"), "bf16", None, 8, None, 0) is None
