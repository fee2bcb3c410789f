"""The real path a user takes: the test kit's checkpoint is published on a local
stand-in for the Hugging Face hub, downloaded with a token into the HF cache, found
there without --model-dir, loaded and used for a conversation."""

import json
import os
import subprocess
import sys

from arcus_desktop.engine.download import REPO_ID

from ..conftest import AUDIO
from ..hubstub import HubStub


def test_download_then_converse_from_the_cache(tiny_model, tmp_path):
    env = dict(os.environ, HF_TOKEN="hf_test_token")
    with HubStub(tiny_model, REPO_ID) as hub:
        hub.required_token = "hf_test_token"
        env["HF_ENDPOINT"] = hub.endpoint
        got = subprocess.run([sys.executable, "-m", "arcus_desktop", "download"], env=env,
                             capture_output=True, text=True, timeout=300)
        assert got.returncode == 0, got.stderr
        assert "model ready in" in got.stderr
        assert any(r.path.endswith("/model.safetensors") for r in hub.requests)

    env.pop("HF_ENDPOINT")
    out = subprocess.run(
        [sys.executable, "-m", "arcus_desktop", "converse", "--input", str(AUDIO / "input_service.wav"),
         "--output", str(tmp_path / "o.wav"), "--transcript", str(tmp_path / "o.json"),
         "--device", "cpu", "--seed", "1"],
        env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert json.loads((tmp_path / "o.json").read_text())["duration"] == 20.0


def test_wrong_token_is_explained_without_traceback(tiny_model):
    with HubStub(tiny_model, REPO_ID) as hub:
        hub.required_token = "hf_right"
        env = dict(os.environ, HF_TOKEN="hf_wrong", HF_ENDPOINT=hub.endpoint)
        got = subprocess.run([sys.executable, "-m", "arcus_desktop", "download"], env=env,
                             capture_output=True, text=True, timeout=120)
    assert got.returncode == 2
    assert "Traceback" not in got.stderr
    assert "huggingface.co/nvidia/personaplex-7b-v1" in got.stderr
