"""The live transcript guesses turns with the turn detector's own limits (core/turns.py):
what the detector will call a backchannel or a new turn, the live rows call so too."""

from __future__ import annotations

from arcus_desktop.core.turns import TurnConfig
from arcus_desktop.ui.conversation import ASSISTANT, USER, TranscriptModel
from arcus_desktop.ui.conversation.turns import SPOKE

FRAME_S = 0.08
LIMITS = TurnConfig()


def frames(model: TranscriptModel, start: int, count: int, user: bool = False,
           assistant: bool = False) -> int:
    for frame in range(start, start + count):
        if user:
            model.voice(USER, frame * FRAME_S)
        if assistant:
            model.voice(ASSISTANT, frame * FRAME_S)
        model.tick(frame * FRAME_S)
    return start + count


def rows(model: TranscriptModel) -> list[tuple[str, str]]:
    return [(t.speaker, t.display_text) for t in model.turns]


def test_an_acknowledgement_as_long_as_the_detector_allows_stays_a_backchannel(qtbot):
    model = TranscriptModel()
    model.add_assistant_piece("▁So", 0.0)
    n = frames(model, 0, 15, assistant=True)
    model.add_user_piece(" Mm-hmm", n * FRAME_S)
    n = frames(model, n, round(LIMITS.backchannel_max_s / FRAME_S), user=True, assistant=True)
    n = frames(model, n, 20, assistant=True)
    frames(model, n, 10)
    assert rows(model) == [(ASSISTANT, "So")]
    assert [b.label for b in model.turns[0].backchannels] == ["Mm-hmm"]


def test_words_that_are_no_acknowledgement_make_a_turn_at_once(qtbot):
    model = TranscriptModel()
    model.add_assistant_piece("▁So", 0.0)
    n = frames(model, 0, 15, assistant=True)
    model.add_user_piece(" Book", n * FRAME_S)
    assert rows(model) == [(ASSISTANT, "So"), (USER, "Book")]


def test_a_pause_longer_than_the_detectors_gap_starts_a_new_turn(qtbot):
    model = TranscriptModel()
    n = frames(model, 0, 15, user=True)
    n = frames(model, n, round(LIMITS.gap_s / FRAME_S) + 2)
    frames(model, n, 15, user=True)
    assert rows(model) == [(USER, SPOKE), (USER, "(speaking)")]
