import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_TORCH_COMPILE", "1")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def _shared() -> Path:
    """shared/ beside the checkout (CI, /work/main), or beside a folder above it (a
    worktree under /work/wt/NAME); ARCUS_SHARED_DIR overrides."""
    if os.environ.get("ARCUS_SHARED_DIR"):
        return Path(os.environ["ARCUS_SHARED_DIR"])
    root = Path(__file__).resolve().parents[1]
    for folder in root.parents:
        if (folder / "shared").is_dir():
            return folder / "shared"
    return root.parent / "shared"


SHARED = _shared()
VECTORS = SHARED / "reference" / "vectors"
AUDIO = SHARED / "audio"


@pytest.fixture(autouse=True)
def isolated_data(tmp_path, monkeypatch):
    """Every test gets its own data, cache and Hugging Face folders."""
    monkeypatch.setenv("ARCUS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ARCUS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # autostart, QSettings
    monkeypatch.delenv("HF_TOKEN", raising=False)
    from arcus_desktop.settings import json_file

    json_file.take_notices()  # another test's damaged files are not this one's to tell
    yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> Path:
    """A tiny checkpoint folder in the real layout, written once per test run."""
    from arcus_desktop.engine import testkit

    return testkit.write(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def tiny_engine(tiny_model):
    from arcus_desktop.engine.engine import Engine

    return Engine.load(tiny_model, "cpu", user_words=False)


@pytest.fixture(scope="session")
def tiny_stt(tmp_path_factory) -> Path:
    """A tiny speech-to-text checkpoint in kyutai/stt-1b-en_fr's layout, sharing the tiny
    model's Mimi."""
    from arcus_desktop.engine import testkit

    return testkit.write_stt(tmp_path_factory.mktemp("tiny-stt"))


@pytest.fixture(scope="session")
def tiny_stt_engine(tiny_model, tiny_stt):
    """The tiny model with the tiny speech-to-text model next to it."""
    from arcus_desktop.engine.engine import Engine

    return Engine.load(tiny_model, "cpu", stt_dir=tiny_stt)


@pytest.fixture(scope="session")
def embedder():
    """The default offline sentence embedder, loaded once."""
    from arcus_desktop.memory.embedder import WordLlamaEmbedder

    return WordLlamaEmbedder()


@pytest.fixture(scope="session")
def supabase_stack():
    """One real PostgreSQL + PostgREST (tests/supabase_stack.py) with the shipped sync
    schema, shared by the sync tests; each test makes its own users."""
    from arcus_desktop.sync.schema import schema_sql

    from .supabase_stack import SupabaseStack

    with SupabaseStack() as stack:
        stack.apply_sql(schema_sql())
        yield stack


@pytest.fixture
def os_keyring():
    """A real Secret Service (gnome-keyring on a private D-Bus session) as the keyring."""
    from .secret_service import secret_service

    with secret_service() as backend:
        yield backend


@pytest.fixture
def pulse():
    """A real PulseAudio daemon (tests/pulse.py); yields the microphone FIFO."""
    from arcus_desktop.audio.devices import list_devices

    from .pulse import pulse_server

    with pulse_server() as fifo:
        list_devices(refresh=True)  # PortAudio reads the device list only when it starts
        yield fifo
    list_devices(refresh=True)
