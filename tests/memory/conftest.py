import pytest

from arcus_desktop.memory.embedder import WordLlamaEmbedder
from arcus_desktop.memory.store import MemoryStore


@pytest.fixture(scope="session")
def embedder():
    return WordLlamaEmbedder()


@pytest.fixture
def store(tmp_path, embedder):
    s = MemoryStore(tmp_path / "data" / "memory.db", embedder=embedder)
    yield s
    s.close()
