"""The remote engine against the team server itself (arcus_desktop/server, the tiny model
on the CPU) instead of the stand-in: skipped where that server is not in the tree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import arcus_desktop
from arcus_desktop.remote import protocol as P
from arcus_desktop.remote.client import RemoteLoop

from ..server_thread import serving
from .test_remote_client import FAST, TONE, Events, talk

# In this checkout, not one installed elsewhere (an editable install can lend a package
# from another tree, which then misses this tree's engine).
if not (Path(arcus_desktop.__file__).parent / "server" / "run.py").is_file():
    pytest.skip("the team server is not in this tree", allow_module_level=True)


@pytest.fixture(scope="module")
def server_url(tiny_model):
    from arcus_desktop.server.config import ServerConfig

    with serving(tiny_model, ServerConfig(host="127.0.0.1", port=0, max_sessions=1, token="team-s3cret")) as url:
        yield url


def test_a_conversation_with_the_team_server_itself(server_url):
    events = Events()
    with RemoteLoop(server_url, "team-s3cret", {"text": "You are calm.", "voice": "NATF2"},
                    {"temperature": 0.8, "top_k": 250}, None, events, FAST) as loop:
        assert loop.session.get("protocol") == 1  # its session event, before the talk
        steps = talk(loop, 30, TONE)
        # A second conversation while this one holds the only slot: full, in words.
        other = RemoteLoop(server_url, "team-s3cret", {}, None, None, Events(), FAST)
        other.start()
        with pytest.raises(P.ServerUnavailable) as full:
            other.wait_ready(60)
        other.close()
    assert loop.error is None and loop.received >= 30
    assert any(float(np.abs(s.pcm).max()) > 0 for s in steps)  # the model's voice came back
    assert "slot" in full.value.message and "--max-sessions" in full.value.hint
    wrong = RemoteLoop(server_url, "guess", {}, None, None, Events(), FAST)
    wrong.start()
    with pytest.raises(P.TokenRefused):
        wrong.wait_ready(60)
    wrong.close()
