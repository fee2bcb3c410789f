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


def test_stt_download_then_user_words_without_a_folder(tiny_model, tiny_stt, tmp_path):
    """Kyutai's speech-to-text model (public: no token) is downloaded next to PersonaPlex
    and found in the cache by converse, which then writes the user's words."""
    from arcus_desktop.engine.download import STT_FILES, STT_REPO_ID, find_cached_model

    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    with HubStub(tiny_stt, STT_REPO_ID) as hub:
        env["HF_ENDPOINT"] = hub.endpoint
        got = subprocess.run([sys.executable, "-m", "arcus_desktop", "download", "--stt"], env=env,
                             capture_output=True, text=True, timeout=300)
        assert got.returncode == 0, got.stderr
        assert "speech-to-text model ready in" in got.stderr
        fetched = {r.path.rsplit("/", 1)[-1] for r in hub.requests if "/resolve/" in r.path}
        assert fetched == set(STT_FILES)
    folder = find_cached_model(STT_REPO_ID)
    assert folder is not None and (folder / "mimi-pytorch-e351c8d8@125.safetensors").is_file()

    env.pop("HF_ENDPOINT")
    out = subprocess.run(
        [sys.executable, "-m", "arcus_desktop", "converse", "--input", str(AUDIO / "input_service.wav"),
         "--output", str(tmp_path / "o.wav"), "--transcript", str(tmp_path / "o.json"),
         "--model-dir", str(tiny_model), "--device", "cpu", "--seed", "1"],
        env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    user = json.loads((tmp_path / "o.json").read_text())["user"]
    assert user is not None and user["words"] and user["delay"] == 0.5
    assert "speech-to-text" not in out.stderr  # no note: the model is there
