"""The 8-bit modes' packed copy of the weights: written once after the first load, read
instead of the original from then on, and never trusted when it does not match."""

import json
import os
import subprocess
import sys

import pytest
import torch

from arcus_desktop.engine import checkpoint, model, packed


def _load(folder, mode):
    loaded = model.load(checkpoint.ModelFiles(folder), torch.device("cpu"), quant_mode=mode)
    if loaded.copy is not None and loaded.copy.writer is not None:
        loaded.copy.writer.join()
    return loaded


def _same(a, b) -> bool:
    sa, sb = a.lm.state_dict(), b.lm.state_dict()
    return sa.keys() == sb.keys() and all(
        torch.equal(sa[k].view(-1).view(torch.uint8), sb[k].view(-1).view(torch.uint8)) for k in sa)


@pytest.fixture
def folder(tiny_model, tmp_path):
    """A model folder of its own (tests here touch its files)."""
    import shutil

    return shutil.copytree(tiny_model, tmp_path / "model")


@pytest.mark.parametrize("mode", ["int8", "fp8"])
def test_the_first_load_writes_the_copy_and_the_next_reads_it(folder, mode):
    first = _load(folder, mode)
    assert not first.copy.used and first.copy.target.is_file()
    assert first.copy.target.parent.parent == packed.paths.cache_dir()
    second = _load(folder, mode)
    assert second.copy.used and second.copy.writer is None
    assert _same(first, second)
    index = checkpoint.tensor_index(second.copy.target)
    assert all(begin % packed.ALIGN == 0 for _, _, begin, _ in index.values())


def test_no_copy_for_full_precision_or_4_bit(folder):
    assert _load(folder, "bf16").copy is None and _load(folder, "int4").copy is None
    assert not (packed.paths.cache_dir() / "packed").exists()


def test_a_changed_original_is_read_again_and_replaces_the_copy(folder):
    first = _load(folder, "int8")
    lm = checkpoint.ModelFiles(folder).lm
    st = lm.stat()
    os.utime(lm, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # a new download, same name
    again = _load(folder, "int8")
    assert not again.copy.used and again.copy.target == first.copy.target
    assert _load(folder, "int8").copy.used


@pytest.mark.parametrize("damage", ["cut", "header"])
def test_a_damaged_copy_is_ignored_and_written_again(folder, damage):
    first = _load(folder, "fp8")
    data = first.copy.target.read_bytes()
    first.copy.target.write_bytes(data[:-100] if damage == "cut" else b"\xff" * 8 + data[8:])
    again = _load(folder, "fp8")
    assert not again.copy.used and _same(first, again)
    assert _load(folder, "fp8").copy.used


def test_a_disk_without_room_gets_no_copy(folder, monkeypatch):
    monkeypatch.setattr(packed, "MARGIN", 2**62)  # more than any disk has free
    loaded = _load(folder, "int8")
    assert not loaded.copy.used and not loaded.copy.target.exists()
    assert list(loaded.copy.target.parent.iterdir()) == []


WRITE_FAILS = r"""
import json, resource, signal, sys, torch
from pathlib import Path
from arcus_desktop.engine import packed
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))
state = {"w": torch.zeros(3 << 20, dtype=torch.uint8), "s": torch.ones(4)}
target = Path(sys.argv[1])
print(json.dumps([packed.write(target, state, "k"), sorted(p.name for p in target.parent.iterdir())]))
"""


def test_a_write_that_fails_leaves_nothing_behind(tmp_path):
    """The file system refuses the write part way (a real limit on file size)."""
    target = tmp_path / "packed" / "x.safetensors"
    out = subprocess.run([sys.executable, "-c", WRITE_FAILS, str(target)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [False, []]


def test_one_copy_per_model_file(folder, tiny_model):
    """Switching modes replaces the copy; a copy whose model file is gone goes too."""
    int8 = _load(folder, "int8").copy.target
    fp8 = _load(folder, "fp8").copy.target
    assert fp8.is_file() and not int8.exists()
    other = _load(tiny_model, "int8").copy.target  # another model file: kept
    assert fp8.is_file() and other.is_file()
    import shutil

    shutil.rmtree(folder)
    moved = _load(tiny_model, "fp8").copy.target
    assert moved.is_file() and not fp8.exists() and not other.exists()


def test_doctor_tells_what_the_copies_take(folder):
    from arcus_desktop.doctor import report

    assert dict(report())["packed weights"].startswith("none")
    _load(folder, "fp8")
    line = dict(report())["packed weights"]
    assert line.startswith("fp8: ") and " GB in " in line and "safe to delete" in line


def test_a_damaged_file_beside_the_copies_is_removed_without_reading_it_whole(folder):
    """Its header claims 2**63 bytes: the length is checked before anything is read."""
    junk = packed.paths.cache_dir() / "packed" / "int8-bfloat16-dep8-0000000000000000.safetensors"
    junk.parent.mkdir(parents=True)
    junk.write_bytes(b"\xff" * 8 + b"{" * 4096)
    assert _load(folder, "fp8").copy.target.is_file()
    assert not junk.exists()
