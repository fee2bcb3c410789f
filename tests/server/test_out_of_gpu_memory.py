"""`serve` asked for more conversation slots than the GPU holds: a message that says so
and what to do, not torch's traceback. No GPU here, so the batch loop's start is made to
fail as torch's OutOfMemoryError does (an exception of that name): a stand-in, the one
part of this test that is not real."""

import pytest

from arcus_desktop.core.errors import DeviceError
from arcus_desktop.engine.batch_loop import BatchLoop
from arcus_desktop.server.config import ServerConfig
from arcus_desktop.server.run import open_server


class OutOfMemoryError(RuntimeError):  # named as torch.cuda's
    pass


def test_too_many_slots_for_the_gpu_names_max_sessions(engine, monkeypatch):
    def start(self, timeout=None):
        raise OutOfMemoryError("CUDA out of memory. Tried to allocate 1.50 GiB")

    monkeypatch.setattr(BatchLoop, "start", start)
    with pytest.raises(DeviceError) as caught:
        open_server(ServerConfig(host="127.0.0.1", port=0, max_sessions=64), engine=engine,
                    user_words=False)
    assert "64 conversation slots" in caught.value.message
    assert "--max-sessions" in caught.value.hint


def test_other_failures_pass_through(engine, monkeypatch):
    def start(self, timeout=None):
        raise ValueError("something else")

    monkeypatch.setattr(BatchLoop, "start", start)
    with pytest.raises(ValueError):
        open_server(ServerConfig(host="127.0.0.1", port=0, max_sessions=2), engine=engine,
                    user_words=False)
