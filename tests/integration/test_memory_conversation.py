"""A conversation with the tiny model lands in memory, and what was said comes back
into the next conversation's persona prompt, within its token budget."""

import json

from arcus_desktop.core.persona import Persona
from arcus_desktop.engine.conversation import converse
from arcus_desktop.memory import context
from arcus_desktop.memory.capture import ConversationCapture, Turn, turns_from_words
from arcus_desktop.memory.store import MemoryStore

from ..conftest import AUDIO
from .test_converse_cli import run_cli


def test_conversation_to_memory_to_next_persona(tiny_engine, tmp_path, embedder):
    store = MemoryStore(embedder=embedder)  # the app's data folder (a temp dir in tests)
    persona = Persona(text=(AUDIO / "prompt_service.txt").read_text())
    out = tmp_path / "reply.wav"
    result = converse(tiny_engine, AUDIO / "input_service.wav", out, tmp_path / "t.json",
                      persona, seed=7)
    capture = ConversationCapture(store, persona.text, recording_path=str(out))
    # The user's words would come from speech-to-text, which the offline path does not run:
    # the test says them in its place.
    capture.add_turn(Turn("user", "Please remember that my dishwasher is a Bosch 500 series.",
                          0.5, 3.0))
    assistant = turns_from_words(result.transcript.words, "assistant")
    assert assistant, "the random model says some pieces"
    for turn in assistant:
        capture.add_turn(turn)
    capture.finish()

    kept = store.conversation_memories(capture.id)
    assert [m.audio_offset for m in kept if m.speaker == "assistant"] == [t.start for t in assistant]
    assert any(m.kind == "semantic" and "Bosch 500" in m.content for m in kept)

    base = "You are Arcus, a helpful assistant for home appliances."
    ctx = context.for_topic(store, base, tiny_engine.tokenizer, budget=120,
                            topic="my dishwasher model")
    assert "Bosch 500 series" in ctx.text and ctx.tokens <= 120
    prepared = tiny_engine.prepare(Persona(text=ctx.text, token_budget=120))
    assert len(prepared.text.tokens) == ctx.tokens and not prepared.text.truncated


def test_converse_remember_then_recall_from_the_command_line(tmp_path):
    model = tmp_path / "tiny"
    assert run_cli("testkit", "--out", str(model)).returncode == 0
    common = ["--model-dir", str(model), "--device", "cpu", "--seed", "5",
              "--persona", "You are a calm helper.", "--input", str(AUDIO / "input_service.wav")]
    first = run_cli("converse", *common, "--output", str(tmp_path / "a.wav"),
                    "--transcript", str(tmp_path / "a.json"), "--remember")
    assert first.returncode == 0, first.stderr
    assert "memory: kept" in first.stderr
    second = run_cli("converse", *common, "--output", str(tmp_path / "b.wav"),
                     "--transcript", str(tmp_path / "b.json"), "--recall")
    assert second.returncode == 0, second.stderr
    assert "memory: recalled 1 facts" in second.stderr  # the first conversation's summary
    assert "  fact: “" in second.stderr and "; id " in second.stderr  # which one, and why
    tokens = json.loads((tmp_path / "b.json").read_text())["persona"]["prompt_tokens"]
    assert tokens <= 200
