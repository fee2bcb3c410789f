import pytest

from arcus_desktop.memory.store import MemoryStore


@pytest.fixture
def store(tmp_path, embedder):
    s = MemoryStore(tmp_path / "data" / "memory.db", embedder=embedder)
    yield s
    s.close()
