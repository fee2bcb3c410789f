"""`arcus-desktop testkit` + `arcus-desktop converse` as a user runs them."""

import json
import os
import subprocess
import sys
import threading
import wave

import pytest

from arcus_desktop.audio.files import read_mono

from ..conftest import AUDIO
from ..pulse import feed


def run_cli(*args, cwd=None):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "arcus_desktop", *args], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "tiny"
    result = run_cli("testkit", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_converse_produces_same_length_wav_and_transcript(cli_model, tmp_path):
    out_wav, out_json = tmp_path / "reply.wav", tmp_path / "reply.json"
    result = run_cli("converse", "--input", str(AUDIO / "input_service.wav"),
                     "--output", str(out_wav), "--transcript", str(out_json),
                     "--persona-file", str(AUDIO / "prompt_service.txt"), "--voice", "NATF2",
                     "--model-dir", str(cli_model), "--device", "cpu", "--seed", "42")
    assert result.returncode == 0, result.stderr
    with wave.open(str(AUDIO / "input_service.wav")) as src, wave.open(str(out_wav)) as dst:
        assert dst.getframerate() == 24000 and dst.getnchannels() == 1
        assert dst.getnframes() == src.getnframes()  # 20 s in, 20 s out
    data = json.loads(out_json.read_text())
    assert data["duration"] == pytest.approx(20.0, abs=0.01)
    words = data["model"]["words"]
    assert words, "the random model should still say some pieces"
    times = [w["start"] for w in words]
    assert times == sorted(times) and 0 <= times[0] and times[-1] < 20.0
    assert all(w["end"] > w["start"] for w in words)
    assert data["model"]["text"] == " ".join(w["text"] for w in words)


def test_same_seed_same_conversation(cli_model, tmp_path):
    outs = []
    for name in ("a", "b"):
        wav, js = tmp_path / f"{name}.wav", tmp_path / f"{name}.json"
        result = run_cli("converse", "--input", str(AUDIO / "input_service.wav"), "--output", str(wav),
                         "--transcript", str(js), "--model-dir", str(cli_model), "--device", "cpu",
                         "--seed", "3", "--persona", "You are a calm helper.")
        assert result.returncode == 0, result.stderr
        outs.append(json.loads(js.read_text())["model"])
    assert outs[0] == outs[1]


def test_other_rate_stereo_input_and_own_voice(cli_model, tmp_path):
    import numpy as np

    src = tmp_path / "in.wav"
    rate, seconds = 44100, 1.5
    t = np.arange(int(rate * seconds)) / rate
    pcm = (0.2 * np.stack([np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 330 * t)], 1) * 32767)
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(rate)
        w.writeframes(pcm.astype("<i2").tobytes())
    out_wav = tmp_path / "out.wav"
    result = run_cli("converse", "--input", str(src), "--output", str(out_wav),
                     "--transcript", str(tmp_path / "t.json"), "--voice-wav", str(src),
                     "--model-dir", str(cli_model), "--device", "cpu")
    assert result.returncode == 0, result.stderr
    with wave.open(str(out_wav)) as dst:
        assert dst.getnframes() == round(seconds * 24000)


def _assert_clean_failure(result, *needles):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for needle in needles:
        assert needle in result.stderr


def test_bad_inputs_fail_in_one_line(cli_model, tmp_path):
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("definitely not audio\n" * 50)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    base = ["--output", str(tmp_path / "o.wav"), "--transcript", str(tmp_path / "o.json")]
    model = ["--model-dir", str(cli_model), "--device", "cpu"]

    _assert_clean_failure(run_cli("converse", "--input", str(not_audio), *base, *model),
                          "not an audio file")
    _assert_clean_failure(run_cli("converse", "--input", str(empty), *base, *model))
    _assert_clean_failure(run_cli("converse", "--input", str(tmp_path / "missing.wav"), *base, *model),
                          "does not exist")
    _assert_clean_failure(run_cli("converse", "--input", str(AUDIO / "input_service.wav"), *base,
                                  *model, "--voice", "NOBODY"), "NOBODY", "NATF2")
    _assert_clean_failure(run_cli("converse", "--input", str(AUDIO / "input_service.wav"), *base,
                                  "--model-dir", str(tmp_path / "no-model")), "does not exist")
    _assert_clean_failure(run_cli("converse", "--input", str(AUDIO / "input_service.wav"), *base,
                                  *model, "--persona", "word " * 400), "tokens long")
    assert not (tmp_path / "o.wav").exists()


def test_an_over_budget_persona_names_the_options_that_fix_it(cli_model, tmp_path):
    result = run_cli("converse", "--input", str(AUDIO / "input_service.wav"),
                     "--output", str(tmp_path / "o.wav"), "--transcript", str(tmp_path / "o.json"),
                     "--model-dir", str(cli_model), "--device", "cpu", "--budget", "40",
                     "--persona", "word " * 100)
    _assert_clean_failure(result, "tokens long; the limit is 40", "--budget", "--truncate")
    assert "in settings" not in result.stderr  # the GUI's way, not this command's


def test_voices_lists_presets(cli_model):
    result = run_cli("voices", "--model-dir", str(cli_model))
    assert result.returncode == 0
    # the labels Settings > Voice shows, from the same place
    assert result.stdout.splitlines() == ["NATF0 — natural, female", "NATF2 — natural, female",
                                          "NATM1 — natural, male", "VARF3 — varied, female"]


def test_converse_live_talks_through_the_real_devices(cli_model, pulse):
    stop = threading.Event()
    speech = read_mono(AUDIO / "input_service.wav", 24_000)[4 * 24_000:10 * 24_000]
    feeder = feed(pulse, speech, stop, loop=True)
    try:
        # 8 s: at least one whole loop of the speech (6 s) whatever the phase it starts in.
        result = run_cli("converse", "--live", "--seconds", "8", "--model-dir", str(cli_model),
                         "--device", "cpu", "--seed", "1")
    finally:
        stop.set()
        feeder.join(10)
    assert result.returncode == 0, result.stderr
    assert "talking: speak now (8 s)" in result.stderr
    frames = int(result.stderr.split(" frames")[0].split()[-1])
    # Paced by the sound server's clock: never more than 8 s of 80 ms frames (how many
    # fewer depends on this machine's speed, which is bench/'s business).
    assert 5 <= frames <= 101
    assert result.stdout.strip(), "the random model still says some pieces"
    assert "  you [" in result.stdout  # the user's speech, as turns (no speech-to-text here)


def test_converse_needs_files_unless_live(cli_model):
    result = run_cli("converse", "--model-dir", str(cli_model), "--device", "cpu")
    assert result.returncode == 2
    assert "converse needs --input, --output, --transcript" in result.stderr


@pytest.fixture(scope="module")
def cli_stt(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    result = run_cli("testkit", "--out", str(folder / "tiny"), "--stt-out", str(folder / "stt"))
    assert result.returncode == 0, result.stderr
    assert "speech-to-text checkpoint" in result.stdout
    return folder / "stt"


def test_converse_writes_the_users_words(cli_model, cli_stt, tmp_path):
    src = tmp_path / "in.wav"
    with wave.open(str(AUDIO / "input_service.wav")) as w, wave.open(str(src), "wb") as out:
        out.setparams(w.getparams())
        out.writeframes(w.readframes(w.getframerate() * 6))  # 6 s of speech
    common = ["converse", "--input", str(src), "--model-dir", str(cli_model), "--device", "cpu",
              "--seed", "5"]
    with_words = run_cli(*common, "--stt-dir", str(cli_stt), "--output", str(tmp_path / "a.wav"),
                         "--transcript", str(tmp_path / "a.json"))
    assert with_words.returncode == 0, with_words.stderr
    without = run_cli(*common, "--output", str(tmp_path / "b.wav"),
                      "--transcript", str(tmp_path / "b.json"))
    assert without.returncode == 0, without.stderr

    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert a["model"] == b["model"]  # the user's words change nothing on the model's side
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    words = a["user"]["words"]
    assert words
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0.0 and words[-1]["end"] <= 6.0
    assert all(w["end"] > w["start"] for w in words)
    assert a["user"]["text"] == " ".join(w["text"] for w in words)

    assert b["user"] is None
    assert any("timed turns without words" in n for n in b["notes"])
    assert "note: No speech-to-text model installed" in without.stderr


def test_broken_stt_folder_fails_in_one_line(cli_model, cli_stt, tmp_path):
    import shutil

    broken = tmp_path / "stt"
    shutil.copytree(cli_stt, broken)
    data = (broken / "model.safetensors").read_bytes()
    (broken / "model.safetensors").write_bytes(data[:1000])
    base = ["converse", "--input", str(AUDIO / "input_service.wav"), "--output", str(tmp_path / "o.wav"),
            "--transcript", str(tmp_path / "o.json"), "--model-dir", str(cli_model), "--device", "cpu"]
    _assert_clean_failure(run_cli(*base, "--stt-dir", str(broken)), "Speech-to-text", "download --stt")
    _assert_clean_failure(run_cli(*base, "--stt-dir", str(tmp_path / "none")), "does not exist")
    assert not (tmp_path / "o.wav").exists()


def test_an_input_longer_than_converse_takes_is_refused_without_decoding_it_all(cli_model, tmp_path):
    # Issue 15: a small file of silence was decoded whole (hours of samples) and then
    # conversed with, frame after frame.
    from ..bombs import silent_flac

    bomb = silent_flac(tmp_path / "hour.flac", 60 * 60)
    result = subprocess.run(
        [sys.executable, "-m", "arcus_desktop", "converse", "--input", str(bomb),
         "--output", str(tmp_path / "out.wav"), "--transcript", str(tmp_path / "out.json"),
         "--model-dir", str(cli_model), "--device", "cpu"],
        capture_output=True, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"), timeout=120)
    assert result.returncode == 2, result.stderr
    assert "60 minutes long" in result.stderr and "at most 10 minutes" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out.wav").exists()
