"""The weights' reader: through the page cache or around it (direct I/O), every tensor
comes back byte for byte, whatever its offset and size in the file."""

import os

import pytest
import torch
from safetensors.torch import load_file, save_file

from arcus_desktop.core.errors import CorruptFileError
from arcus_desktop.engine import page_cache, weights


def _evict(path) -> None:
    """Drop the file from the page cache (the state after a reboot)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)


@pytest.fixture
def odd_file(tmp_path, monkeypatch):
    """Tensors of odd sizes at unaligned offsets, several of them longer than a chunk."""
    monkeypatch.setattr(weights, "CHUNK", 3 * weights.ALIGN)
    g = torch.Generator().manual_seed(0)
    tensors = {"a": torch.randn(7, generator=g),
               "b": torch.randn(3001, 5, generator=g).to(torch.bfloat16),
               "c": torch.randint(-128, 127, (12_289,), generator=g, dtype=torch.int8),
               "d": torch.randn(999, generator=g).to(torch.float8_e4m3fn),
               "e": torch.randn(4096, 3, generator=g)}
    path = tmp_path / "odd.safetensors"
    save_file(tensors, path)
    return path


@pytest.mark.parametrize("direct", ["0", "1"])
def test_every_tensor_comes_back_exactly(odd_file, monkeypatch, direct):
    if direct == "1" and not hasattr(os, "O_DIRECT"):
        pytest.skip("no direct I/O on this system")
    monkeypatch.setattr(weights, "DIRECT", direct)
    _evict(odd_file)
    assert weights._direct(odd_file) == (direct == "1")
    got = weights.read(odd_file, dict.fromkeys(["a", "b", "c", "d", "e"]), torch.device("cpu"),
                       threads=3)
    ref = load_file(odd_file)
    assert set(got) == set(ref)
    for name, t in ref.items():
        assert got[name].dtype == t.dtype and torch.equal(got[name].view(torch.uint8),
                                                          t.view(torch.uint8)), name
    # leading rows only, as the loader asks for the depformer steps it runs
    part = weights.read(odd_file, {"b": [17, 5]}, torch.device("cpu"))
    assert torch.equal(part["b"], ref["b"][:17])


def test_an_uncached_file_is_read_around_the_cache_and_a_cached_one_through_it(odd_file):
    if not hasattr(os, "O_DIRECT") or not weights._direct_possible(odd_file):
        pytest.skip("no direct I/O on this file system")
    _evict(odd_file)
    assert page_cache.resident_share(odd_file) < 0.1
    assert weights._direct(odd_file)
    odd_file.read_bytes()  # now it is in the page cache
    assert page_cache.resident_share(odd_file) > 0.9
    assert not weights._direct(odd_file)


@pytest.mark.parametrize("direct", ["0", "1"])
def test_a_cut_file_says_so(odd_file, monkeypatch, direct):
    monkeypatch.setattr(weights, "DIRECT", direct)
    data = odd_file.read_bytes()
    odd_file.write_bytes(data[:-5000])
    _evict(odd_file)
    with pytest.raises(CorruptFileError, match="cut short"):
        weights.read(odd_file, dict.fromkeys(["a", "b", "c", "d", "e"]), torch.device("cpu"))


def test_after_a_direct_read_the_file_is_cached_in_the_background(odd_file, monkeypatch):
    """So that the next start (a restarted engine) reads it from memory again."""
    if not hasattr(os, "O_DIRECT") or not weights._direct_possible(odd_file):
        pytest.skip("no direct I/O on this file system")
    _evict(odd_file)
    weights.read(odd_file, dict.fromkeys(["a", "e"]), torch.device("cpu"))
    filler = page_cache.filling(odd_file)
    assert filler is not None
    filler.join(timeout=60)
    assert page_cache.resident_share(odd_file) > 0.9
    assert not weights._direct(odd_file)  # the next read goes through the cache


def test_a_file_not_read_again_is_not_cached(odd_file):
    """The original of an 8-bit mode is read once, to write the packed copy."""
    if not hasattr(os, "O_DIRECT") or not weights._direct_possible(odd_file):
        pytest.skip("no direct I/O on this file system")
    _evict(odd_file)
    weights.read(odd_file, dict.fromkeys(["a"]), torch.device("cpu"), read_again=False)
    assert page_cache.filling(odd_file) is None
