"""Reading audio files with bounds (issue 15): a file small on disk but long, or with an
absurd header, is never decoded beyond what is used."""

import os
from pathlib import Path

import pytest

from arcus_desktop.audio import files
from arcus_desktop.core.errors import AudioFileError, DiskFullError

from ..bombs import PeakMemory, silent_flac, wav_header

MIB = 2**20
DEV_FULL = Path("/dev/full")  # every write to it fails with ENOSPC, as on a full disk


def test_a_long_silent_flac_is_decoded_only_as_far_as_asked(tmp_path):
    bomb = silent_flac(tmp_path / "silence.flac", 30 * 60)  # 30 min, ~300 KB on disk
    assert bomb.stat().st_size < MIB
    with PeakMemory() as peak:
        clip = files.read_clip(bomb, 24_000, max_seconds=30)
    assert clip.pcm.size == 30 * 24_000
    assert clip.seconds == pytest.approx(1800) and clip.trimmed == pytest.approx(1770)
    assert peak.grew < 64 * MIB  # the whole file decoded: 330 MiB at 48 kHz, then more


def test_read_mono_is_bounded_by_default(tmp_path):
    bomb = silent_flac(tmp_path / "silence.flac", 11 * 60)
    assert files.read_mono(bomb, 24_000).size == int(files.DEFAULT_MAX_SECONDS * 24_000)


@pytest.mark.parametrize("rate,channels", [(4_000_000_000, 1), (1, 1), (48_000, 64)])
def test_an_absurd_header_is_refused_before_decoding(tmp_path, rate, channels):
    # 4 GHz: the decoder would reserve 30 s of it at once (hundreds of GB) and abort.
    path = wav_header(tmp_path / "odd.wav", rate, channels, bytes(channels * 2000))
    with pytest.raises(AudioFileError) as e:
        files.read_clip(path, 24_000, max_seconds=30)
    assert "Hz" in e.value.message or "not an audio file" in e.value.message


def test_a_file_over_the_size_limit_is_refused_unread(tmp_path):
    path = wav_header(tmp_path / "big.wav", 48_000, 1, bytes(96_000))
    with pytest.raises(AudioFileError, match="MiB"):
        files.read_clip(path, 24_000, max_seconds=30, max_bytes=50_000)


def test_a_short_file_comes_whole_and_exact(tmp_path):
    path = wav_header(tmp_path / "short.wav", 16_000, 2, bytes(16_000 * 4 * 3))  # 3 s
    clip = files.read_clip(path, 24_000, max_seconds=30)
    assert clip.pcm.size == 3 * 24_000 and clip.seconds == pytest.approx(3.0)
    assert clip.trimmed == 0.0


def test_a_file_cut_short_is_as_long_as_what_it_holds(tmp_path):
    # A broken copy: the header claims 60 s, the file holds 10 s. The length comes from
    # what was decoded, not from the header, and nothing is padded in.
    full = wav_header(tmp_path / "full.wav", 16_000, 2, bytes(16_000 * 4 * 60))
    cut = tmp_path / "cut.wav"
    cut.write_bytes(full.read_bytes()[: 44 + 16_000 * 4 * 10])
    clip = files.read_clip(cut, 24_000, max_seconds=30)
    assert clip.seconds == pytest.approx(10.0) and clip.trimmed == 0.0
    assert clip.pcm.size == 10 * 24_000


def test_a_stretch_from_the_middle_decodes_only_that_stretch(tmp_path):
    # A conversation's recording is played a stretch at a time, from the turn chosen.
    import numpy as np

    ramp = (np.arange(24_000 * 20) / (24_000 * 20)).astype(np.float32)  # 20 s, rising
    path = tmp_path / "ramp.wav"
    files.write_wav(path, ramp, 24_000)
    whole = files.read_clip(path, 24_000, max_seconds=30).pcm
    clip = files.read_clip(path, 24_000, max_seconds=5, start_s=12.0)
    assert clip.pcm.size == 5 * 24_000
    assert clip.seconds == pytest.approx(8.0) and clip.trimmed == pytest.approx(3.0)
    assert np.abs(clip.pcm - whole[12 * 24_000:17 * 24_000]).max() < 1e-4
    bomb = silent_flac(tmp_path / "silence.flac", 30 * 60)
    with PeakMemory() as peak:
        late = files.read_clip(bomb, 24_000, max_seconds=30, start_s=25 * 60)
    assert late.pcm.size == 30 * 24_000 and late.seconds == pytest.approx(300)
    assert peak.grew < 64 * MIB


@pytest.mark.skipif(not DEV_FULL.exists(), reason="needs Linux's /dev/full")
def test_a_full_disk_is_told_as_such_and_leaves_no_part_file(tmp_path):
    import numpy as np

    path = tmp_path / "take.wav"
    part = tmp_path / "take.wav.part"
    part.symlink_to(DEV_FULL)  # the WAV is written here first: the disk has no room for it
    with pytest.raises(DiskFullError) as err:  # sphn says so as a ValueError, not OSError
        files.write_wav(path, np.zeros(48_000, np.float32), 24_000)
    assert "disk is full" in err.value.message and err.value.hint
    assert not os.path.lexists(part) and not path.exists()


@pytest.mark.parametrize("rate", [24_000, 48_000])  # as it is, and resampled
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_float_file_with_damaged_samples_is_refused_as_damaged(tmp_path, rate, bad):
    # At 48 kHz sphn's resampler panicked on a NaN (a BaseException, past every
    # `except Exception`) before the finite check ran.
    import struct

    import numpy as np

    pcm = (0.2 * np.sin(np.arange(rate * 2) / 7)).astype("<f4")
    pcm[1000] = bad
    data = pcm.tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, rate, rate * 4, 4, 32)  # IEEE float, mono
    path = tmp_path / "voice.wav"
    path.write_bytes(b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVEfmt " +
                     struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data)) + data)
    with pytest.raises(AudioFileError, match="damaged samples"):
        files.read_clip(path, 24_000, 10.0)
