"""The transcript model: words grow the current turn, the other speaker starting makes a
new turn, a short "uh-huh" over the other side is a marker not a row, cutting in marks
the cut-off turn, and turn events from a detector correct the live guesses."""

from __future__ import annotations

from PySide6.QtGui import QPalette

from arcus_desktop.ui.conversation import ASSISTANT, USER, TranscriptModel
from arcus_desktop.ui.conversation.delegate import turn_html
from arcus_desktop.ui.conversation.model import INTERRUPTED_ROLE, SPEAKER_ROLE
from arcus_desktop.ui.conversation.turns import SPOKE, clock

FRAME_S = 0.08


class Frames:
    """Drives a model frame by frame the way the window does: pieces, then voice
    activity, then the clock."""

    def __init__(self, model: TranscriptModel) -> None:
        self.model, self.frame = model, 0

    @property
    def time(self) -> float:
        return self.frame * FRAME_S

    def run(self, seconds: float, user: bool = False, assistant: bool = False,
            pieces: list[str] = (), every: int = 3) -> None:
        pieces = list(pieces)
        for i in range(round(seconds / FRAME_S)):
            if pieces and i % every == 0:
                self.model.add_assistant_piece(pieces.pop(0), self.time)
            if user:
                self.model.voice(USER, self.time)
            if assistant:
                self.model.voice(ASSISTANT, self.time)
            self.model.tick(self.time)
            self.frame += 1


def rows(model: TranscriptModel) -> list[tuple[str, str]]:
    return [(t.speaker, t.display_text) for t in model.turns]


def test_pieces_grow_words_into_the_current_turn(qtbot):
    model = TranscriptModel()
    inserted, changed = [], []
    model.rowsInserted.connect(lambda _p, first, _l: inserted.append(first))
    model.dataChanged.connect(lambda first, _l: changed.append(first.row()))
    for i, piece in enumerate(["▁Hel", "lo", ",", "▁wor", "ld", "!"]):
        model.add_assistant_piece(piece, 0.4 + i * 0.16)
    assert rows(model) == [(ASSISTANT, "Hello, world!")]
    assert inserted == [0]  # one row, grown in place
    assert changed.count(0) == 6
    index = model.index(0)
    assert index.data() == "Hello, world!"
    assert index.data(SPEAKER_ROLE) == ASSISTANT
    assert model.turns[0].start == 0.4


def test_the_other_speaker_starting_creates_a_turn(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.5, assistant=True, pieces=["▁Hi", "▁there", ".", "▁Ready", "?"])
    frames.run(0.6)
    started = frames.time
    frames.run(1.6, user=True)  # no speech-to-text: a timed "(speaking)" turn
    frames.run(0.6)
    frames.run(1.0, assistant=True, pieces=["▁Got", "▁it", "."])
    assert rows(model) == [(ASSISTANT, "Hi there. Ready?"), (USER, SPOKE),
                           (ASSISTANT, "Got it.")]
    user = model.turns[1]
    assert user.final and user.start == started and abs(user.duration - 1.6) < 0.1
    assert not any(t.interrupted for t in model.turns)


def test_a_short_utterance_over_the_other_side_is_a_backchannel_not_a_row(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    words = ["▁So", "▁the", "▁first", "▁step", "▁is", "▁to", "▁pick", "▁a", "▁date", "."]
    frames.run(1.2, assistant=True, pieces=words[:5])
    frames.run(0.4, user=True, assistant=True, pieces=words[5:7])  # "uh-huh"
    frames.run(1.6, assistant=True, pieces=words[7:])
    frames.run(1.0)
    assert rows(model) == [(ASSISTANT, "So the first step is to pick a date.")]
    (mark,) = model.turns[0].backchannels
    assert abs(mark.time - 1.2) < 1e-6 and mark.label == "uh-huh"
    markup = turn_html(model.turns[0], QPalette())
    assert markup.index("is") < markup.index("uh-huh") < markup.index("pick")  # where said


def test_cutting_in_marks_the_interrupted_turn(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.5, assistant=True, pieces=["▁Let", "▁me", "▁tell", "▁you", "▁about"])
    frames.run(0.5, user=True, assistant=True, pieces=["▁the"])  # the user cuts in...
    frames.run(1.5, user=True)  # ...and Arcus stops
    frames.run(0.6)
    assert rows(model) == [(ASSISTANT, "Let me tell you about the\u2014"), (USER, "(speaking)")]
    assert model.index(0).data(INTERRUPTED_ROLE) is True
    assert model.index(1).data(INTERRUPTED_ROLE) is False


def test_a_prompt_reply_after_the_other_stops_is_no_interruption(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.5, user=True)
    frames.run(0.16)  # full duplex answers fast: inside the user's "still talking" margin
    frames.run(1.5, assistant=True, pieces=["▁Yes", ",", "▁of", "▁course", "."])
    assert rows(model) == [(USER, SPOKE), (ASSISTANT, "Yes, of course.")]
    assert not model.turns[0].interrupted


def test_user_words_from_speech_to_text_fill_the_speaking_turn(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.6, user=True)
    assert rows(model) == [(USER, "(speaking)")]
    for piece, time in ((" Book", 0.1), (" a", 0.5), (" table", 0.7), (".", 1.0)):  # late
        model.add_user_piece(piece, time)
    assert rows(model) == [(USER, "Book a table.")]


def test_turn_events_correct_the_live_guesses(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(2.0, user=True)
    frames.run(0.32)
    frames.run(1.6, assistant=True, pieces=["▁Sure", ".", "▁Which", "▁day", "?"])
    frames.run(1.04, user=True, assistant=True)  # long enough to be a turn, live
    frames.run(0.64)
    frames.run(1.0, assistant=True, pieces=["▁Fine", "."])
    assert rows(model) == [(USER, SPOKE), (ASSISTANT, "Sure. Which day?\u2014"),
                           (USER, SPOKE), (ASSISTANT, "Fine.")]
    # A detector says: the second user utterance was an "mm-hm", Arcus was not cut off,
    # and what the user said first.
    model.add_turn(USER, 3.92, 4.96, "mm-hm", backchannel=True)
    model.add_turn(ASSISTANT, 2.32, 4.96, interrupted=False)
    model.add_turn(USER, 0.0, 2.0, "I need a table for two")
    assert rows(model) == [(USER, "I need a table for two"), (ASSISTANT, "Sure. Which day?"),
                           (ASSISTANT, "Fine.")]
    assert [b.label for b in model.turns[1].backchannels] == ["mm-hm"]
    model.mark_interrupted(ASSISTANT, 6.0)
    assert model.turns[2].display_text == "Fine.\u2014"
    model.add_turn(ASSISTANT, 9.0, 10.0, "A turn nobody heard live.")
    assert rows(model)[-1] == (ASSISTANT, "A turn nobody heard live.")


def test_a_detected_turn_the_live_guesses_split_is_shown_once(qtbot):
    """Arcus talks on while the user speaks over it: live, its words fall into two rows
    (before and after the user's turn). The detector says it was one turn: one row."""
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.2, assistant=True, pieces=["▁Let", "'s", "▁see", "."])
    frames.run(1.2, user=True, assistant=True, pieces=["▁The", "▁train"])
    frames.run(1.2, assistant=True, pieces=["▁leaves", "▁at", "▁nine", "."])
    assert [t.speaker for t in model.turns] == [ASSISTANT, USER, ASSISTANT]
    model.add_turn(USER, 1.2, 2.4)
    model.add_turn(ASSISTANT, 0.0, 3.6, "Let's see. The train leaves at nine.")
    assert rows(model) == [(ASSISTANT, "Let's see. The train leaves at nine."),
                           (USER, SPOKE)]


def test_levels_that_trail_a_detected_turn_add_no_row(qtbot):
    """Levels wait behind every other event: the detector's turn for the user's last
    words arrives before the last frames of their sound."""
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.0, assistant=True, pieces=["▁Hello", "."])
    frames.run(0.4)
    frames.run(1.0, user=True)
    model.add_turn(USER, 1.4, 2.9)  # the user's turn, ended 0.5 s past the frames so far
    frames.run(0.4, user=True)  # the trailing levels of that same sound
    model.finish()
    assert rows(model) == [(ASSISTANT, "Hello."), (USER, SPOKE)]


def test_the_transcript_as_text(qtbot):
    model = TranscriptModel()
    frames = Frames(model)
    frames.run(1.2, assistant=True, pieces=["▁Hello", "▁there"])
    frames.run(0.3, user=True, assistant=True)
    frames.run(1.0, assistant=True)
    frames.run(0.6)
    frames.run(1.0, user=True)
    assert model.text() == ("Arcus (0:00): Hello there [You: uh-huh]\n"
                            "You (0:03): (speaking)")
    assert model.text([1]) == "You (0:03): (speaking)"
    model.clear()
    assert model.rowCount() == 0 and model.text() == ""


def test_a_time_that_is_no_number_does_not_break_the_transcript(qtbot):
    # A server's word at time 1e999 (JSON's infinity): int() of it raised inside Qt's
    # sizeHint, which ended the app.
    assert clock(float("inf")) == clock(float("nan")) == "-:--"
    assert clock(3725.0) == "1:02:05" and clock(-1.0) == "0:00"
    model = TranscriptModel()
    model.add_user_piece("\u2581hello", float("inf"))
    assert "-:--" in turn_html(model.turns[0], QPalette(), False)
