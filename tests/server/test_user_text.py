"""With a speech-to-text model the server sends the user's own words as `user_text`
events (arcus=1 only), timed on the client's audio."""

import asyncio

import pytest

from arcus_desktop.audio.files import read_mono
from arcus_desktop.core.persona import Persona
from arcus_desktop.engine import constants as C
from arcus_desktop.engine.frame_loop import FrameLoop
from arcus_desktop.engine.generator import Sampling

from ..conftest import AUDIO
from .conftest import start_server
from .wire import FRAME, Client


@pytest.fixture(scope="module")
def stt_engine(tiny_model, tiny_stt):
    from arcus_desktop.engine.engine import Engine

    return Engine.load(tiny_model, "cpu", stt_dir=tiny_stt)


def test_the_users_words_come_as_events(stt_engine):
    import sphn

    speech = read_mono(AUDIO / "input_service.wav", C.SAMPLE_RATE)[: 30 * FRAME]
    # What the engine alone writes for the audio the server will decode.
    writer, reader = sphn.OpusStreamWriter(24000), sphn.OpusStreamReader(24000)
    heard = [reader.append_bytes(writer.append_pcm(speech[i * FRAME:(i + 1) * FRAME])) for i in range(30)]
    prepared = stt_engine.prepare(Persona(text="Hello.", voice="NATF2"))
    with FrameLoop(stt_engine, prepared, Sampling(greedy=True), cuda_graphs=False) as loop:
        want = [(r.user_piece.replace("\u2581", " "), round(r.user_time, 3))
                for r in (loop.process(h) for h in heard) if r.user_piece is not None]
    assert want  # the tiny model's random weights still write pieces

    running = start_server(stt_engine, user_words=True)
    try:
        async def go(extensions: bool):
            query = {"text_prompt": "Hello.", "voice_prompt": "NATF2.pt", "text_temperature": "0",
                     "audio_temperature": "0", **({"arcus": "1"} if extensions else {})}
            async with await Client.open(running.base, **query) as c:
                await c.handshake()
                await c.stream(speech)
                if extensions:  # the last frame's words follow its audio
                    await c.read_until(lambda g: sum(e["type"] == "user_text" for e in g.events) >= len(want))
                return c.got

        plain = asyncio.run(go(False))
        got = asyncio.run(go(True))
        running.wait_idle()
    finally:
        running.close()
    assert 0x04 not in plain.kinds
    assert got.events[0]["user_text"] is True
    words = [(e["text"], e["start"]) for e in got.events if e["type"] == "user_text"]
    assert words == want
