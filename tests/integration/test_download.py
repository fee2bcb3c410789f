"""engine.download against a local stand-in for the Hugging Face hub (tests/hubstub.py).

Real huggingface_hub, real HTTP over 127.0.0.1, real files in tmp_path. The only
mocked part is shutil.disk_usage in the disk-space test.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path
from types import SimpleNamespace

import keyring
import pytest
from keyring.backends import fail

from arcus_desktop.core.errors import (
    MODEL_PAGE,
    ArcusError,
    AuthError,
    CorruptFileError,
    DiskFullError,
    NetworkError,
)
from arcus_desktop.engine import download
from arcus_desktop.engine.download import (
    MODEL_FILES,
    REPO_ID,
    DownloadProgress,
    download_model,
    find_cached_model,
)
from arcus_desktop.settings import secrets

from ..hubstub import FAKE_COMMIT, HubStub
from ..secret_service import saved_names

# Files > 1 KiB are LFS on the stub (sha256 checked); the small ones are plain git
# blobs (git sha1 checked).
SIZES = {
    "model.safetensors": 300_000,
    "tokenizer-e351c8d8-checkpoint125.safetensors": 40_000,
    "tokenizer_spm_32k_3.model": 900,
    "voices.tgz": 20_000,
    "config.json": 300,
}
MIB = 1 << 20


@pytest.fixture(autouse=True)
def no_keyring():
    # No OS keyring exists in this sandbox, and a developer's real one must not leak
    # a token into these tests: use keyring's "fail" backend, which is what a user
    # without any keyring gets.
    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    yield
    keyring.set_keyring(before)


@pytest.fixture
def repo(tmp_path) -> Path:
    folder = tmp_path / "repo"
    folder.mkdir()
    rng = random.Random(7)
    for name, size in SIZES.items():
        (folder / name).write_bytes(rng.randbytes(size))
    return folder


@pytest.fixture
def hub(repo, monkeypatch):
    with HubStub(repo, REPO_ID) as stub:
        # download_model reads HF_ENDPOINT per call, as a user would set it.
        monkeypatch.setenv("HF_ENDPOINT", stub.endpoint)
        yield stub


@pytest.fixture
def cache(tmp_path) -> Path:
    return tmp_path / "hf-cache"


def same_files(folder: Path, repo: Path) -> bool:
    return all((folder / n).read_bytes() == (repo / n).read_bytes() for n in MODEL_FILES)


def total_size(repo: Path) -> int:
    return sum((repo / n).stat().st_size for n in MODEL_FILES)


# -- happy path --------------------------------------------------------------


def test_full_download_reports_progress_and_fills_the_cache(hub, repo, cache):
    events: list[DownloadProgress] = []

    folder = download_model(cache_dir=cache, progress=events.append)

    assert folder == cache / "models--nvidia--personaplex-7b-v1" / "snapshots" / FAKE_COMMIT
    assert same_files(folder, repo)
    total = total_size(repo)
    done = [e.done for e in events]
    assert done == sorted(done) and done[0] < total
    assert events[-1].done == events[-1].total == total
    assert {e.total for e in events} == {total}
    assert {e.filename for e in events} == set(MODEL_FILES)
    assert all(e.speed >= 0 and 0 <= e.file_done <= e.file_total for e in events)
    # Sizes and hashes came from the metadata call, with file metadata asked for.
    assert any(r.path == f"/api/models/{REPO_ID}" for r in hub.requests)

    # A second call finds everything in place and transfers nothing.
    seen = len(hub.requests)
    assert download_model(cache_dir=cache) == folder
    assert not [r for r in hub.requests[seen:] if r.method == "GET" and "/api/" not in r.path]


def test_download_into_a_local_folder(hub, repo, tmp_path):
    target = tmp_path / "my-model"
    assert download_model(local_dir=target) == target
    assert same_files(target, repo)


def test_find_cached_model_only_after_download(hub, cache):
    assert find_cached_model(cache_dir=cache) is None
    folder = download_model(cache_dir=cache)
    assert find_cached_model(cache_dir=cache) == folder


def test_find_cached_model_ignores_a_partial_cache(hub, cache):
    download_model(cache_dir=cache, files=MODEL_FILES[1:])
    assert find_cached_model(cache_dir=cache) is None


# -- tokens and the gate -----------------------------------------------------


def test_wrong_token_is_an_auth_error_pointing_to_the_model_page(hub, cache):
    hub.required_token = "hf_right"
    with pytest.raises(AuthError) as err:
        download_model(token="hf_wrong", cache_dir=cache)
    assert "invalid" in err.value.message
    assert MODEL_PAGE in err.value.hint and "HF_TOKEN" in err.value.hint
    assert "Traceback" not in str(err.value) and "http://" not in err.value.message


def test_gated_repo_without_token_is_an_auth_error(hub, cache):
    hub.required_token = "hf_right"
    with pytest.raises(AuthError) as err:
        download_model(cache_dir=cache)
    assert "none is set" in err.value.message
    assert MODEL_PAGE in err.value.hint


def test_licence_not_accepted_is_an_auth_error(hub, cache):
    hub.required_token = "hf_right"
    hub.licence_accepted = False
    with pytest.raises(AuthError) as err:
        download_model(token="hf_right", cache_dir=cache)
    assert "licence" in err.value.message
    assert MODEL_PAGE in err.value.hint


def test_token_from_environment_opens_the_gate(hub, repo, cache, monkeypatch):
    hub.required_token = "hf_right"
    monkeypatch.setenv("HF_TOKEN", "hf_right")
    assert same_files(download_model(cache_dir=cache), repo)
    file_gets = [r for r in hub.requests if "/resolve/" in r.path]
    assert file_gets and all(r.authorization == "Bearer hf_right" for r in file_gets)


# -- broken transfers --------------------------------------------------------


def test_interrupted_transfer_resumes_from_the_partial_file(hub, repo, cache):
    # huggingface_hub writes in 10 MiB chunks and a chunk cut short is dropped, so
    # the file must be larger than one chunk for a partial file to survive the cut.
    big = random.Random(8).randbytes(12 * MIB)
    (repo / "model.safetensors").write_bytes(big)
    hub.fail_after_bytes["model.safetensors"] = 11 * MIB

    with pytest.raises(NetworkError) as err:
        download_model(cache_dir=cache)
    assert "--model-dir" in err.value.hint
    partial = list(cache.rglob("*.incomplete"))
    assert len(partial) == 1
    kept = partial[0].stat().st_size
    assert 0 < kept < len(big)

    events: list[DownloadProgress] = []
    folder = download_model(cache_dir=cache, progress=events.append)

    gets = hub.content_gets("model.safetensors")
    assert [g.range for g in gets] == [None, f"bytes={kept}-"]
    assert (folder / "model.safetensors").read_bytes() == big
    assert same_files(folder, repo)
    assert not list(cache.rglob("*.incomplete"))
    # The resumed bar starts at what was already on disk.
    assert kept in [e.file_done for e in events if e.filename == "model.safetensors"]


@pytest.mark.parametrize("name", ["voices.tgz", "config.json"])  # LFS sha256, git sha1
def test_corrupt_content_is_deleted_and_reported(hub, repo, cache, name):
    good = (repo / name).read_bytes()
    hub.corrupt[name] = bytes(b ^ 0xFF for b in good)  # same size, other bytes

    with pytest.raises(CorruptFileError) as err:
        download_model(cache_dir=cache)
    assert name in err.value.message
    assert "again" in err.value.hint
    bad = Path(err.value.path)
    assert bad.name == name and not bad.exists()
    # No blob with the bad bytes is left anywhere in the cache.
    assert not [p for p in cache.rglob("*") if p.is_file() and p.read_bytes() == hub.corrupt[name]]

    # Downloading again once the hub serves the right bytes works.
    hub.corrupt.clear()
    assert same_files(download_model(cache_dir=cache), repo)


@pytest.mark.parametrize("local,honest_heads", [(False, 0), (True, 0), (False, 1)])
def test_a_hub_naming_a_file_outside_the_cache_cannot_delete_it(hub, repo, cache, tmp_path,
                                                                local, honest_heads):
    # huggingface_hub names a cached blob by the ETag the hub sends: "../../x" leads out
    # of the cache, to a file of the user's that the hash check must not delete. One hub
    # answers our own check honestly and lies to huggingface_hub's request after it.
    victim = tmp_path / "victim.txt"
    victim.write_text("precious user data")
    hub.etags["config.json"] = "../" * 8 + str(victim).lstrip("/")
    hub.honest_heads["config.json"] = honest_heads
    folder = tmp_path / "model" if local else None
    with pytest.raises(ArcusError) as err:
        download_model(cache_dir=cache, local_dir=folder)
    assert victim.read_text() == "precious user data"
    assert "outside" in err.value.message or "config.json" in err.value.message


def test_a_folder_that_cannot_be_written_is_named_with_a_way_forward(hub):
    # /sys refuses a new folder to anyone, root too (EPERM), as a read-only disk does:
    # this was "Something went wrong. The details are in the log."
    with pytest.raises(ArcusError) as err:
        download_model(local_dir="/sys/arcus-no-model-here")
    assert err.value.message.startswith("Arcus cannot write the model to /sys/arcus-no-model-here")
    assert "Model folder" in err.value.hint


@pytest.mark.parametrize("check", ["hash", "header"])  # small files, large ones
def test_a_file_damaged_since_its_download_is_fetched_anew(tiny_model, cache, monkeypatch,
                                                          check):
    if check == "header":  # as for the real 16 GB weights: too large to hash again
        monkeypatch.setattr(download, "RECHECK_HASH_BYTES", 0)
    with HubStub(tiny_model, REPO_ID) as hub:
        folder = download_model(cache_dir=cache, endpoint=hub.endpoint)
        lm = (folder / "model.safetensors").resolve()
        good = lm.read_bytes()
        lm.write_bytes(b"\x07" * len(good))  # same size, damaged: the engine cannot load it
        again = download_model(cache_dir=cache, endpoint=hub.endpoint)
        assert (again / "model.safetensors").read_bytes() == good
        assert len(hub.content_gets("model.safetensors")) == 2
        download_model(cache_dir=cache, endpoint=hub.endpoint)  # whole now: kept
        assert len(hub.content_gets("model.safetensors")) == 2


def test_unreachable_hub_is_a_network_error(cache, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(NetworkError) as err:
        download_model(cache_dir=cache)
    assert "--model-dir" in err.value.hint
    assert "Traceback" not in str(err.value)


def test_not_enough_disk_space_stops_before_downloading(hub, repo, cache, monkeypatch):
    # The one mocked part: a disk cannot be filled safely here, so disk_usage
    # reports 1000 bytes free.
    monkeypatch.setattr("shutil.disk_usage", lambda path: SimpleNamespace(total=10**12, used=10**12, free=1000))
    with pytest.raises(DiskFullError) as err:
        download_model(cache_dir=cache)
    assert str(cache) in err.value.message
    assert not [r for r in hub.requests if r.method == "GET" and "/api/" not in r.path]


# -- the token store ---------------------------------------------------------


def test_token_falls_back_to_the_environment(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "  hf_from_env \n")
    assert secrets.get_hf_token() == "hf_from_env"
    monkeypatch.delenv("HF_TOKEN")
    assert secrets.get_hf_token() is None


def test_no_keyring_backend_is_handled():
    # no_keyring put keyring's "fail" backend in place (what users without any
    # keyring get): reading gives None, deleting is a no-op, saving says why not.
    assert secrets.get_hf_token() is None
    secrets.delete_hf_token()
    with pytest.raises(ArcusError) as err:
        secrets.set_hf_token("hf_abc")
    assert "HF_TOKEN" in err.value.hint


def test_saved_token_wins_over_the_environment(monkeypatch, os_keyring):
    monkeypatch.setenv("HF_TOKEN", "hf_env")
    secrets.set_hf_token(" hf_saved ")
    assert saved_names(os_keyring) == {"hf_token"}
    assert keyring.get_password("arcus-desktop", "hf_token") == "hf_saved"
    assert secrets.get_hf_token() == "hf_saved"
    secrets.delete_hf_token()
    secrets.delete_hf_token()  # twice is fine
    assert secrets.get_hf_token() == "hf_env"
