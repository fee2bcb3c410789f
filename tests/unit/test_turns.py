"""Turns on conversations mixed from the real recordings (tests/speech.py): the user's
track is what the microphone heard, with a room's noise; the assistant's is what it
played. Reference turns come from the clean tracks (speech blocks, pauses under 0.8 s
joined).

Measured (bench/turns_accuracy.py, alternating turns, 3 noise seeds each): start within
0..+60 ms and end within -10..+100 ms of the reference for clean, white/pink -45 dBFS,
brown/pink/white -35 dBFS noise; asserted here as ±80 ms and ±150 ms."""

import numpy as np
import pytest

from arcus_desktop.audio.echo import EchoCanceller
from arcus_desktop.core.turns import (ASSISTANT, USER, Turn, TurnConfig, TurnEnded, TurnStarted,
                                      TurnTracker, is_backchannel_text)
from arcus_desktop.core.transcript import Word

from .. import speech
from ..speech import backchannels, pieces_at, run, started, track, turns

START_TOL, END_TOL = 0.08, 0.15


def _reference(pcm):
    return speech.spans(speech.speech_blocks(pcm), 0.8)


@pytest.mark.parametrize("kind,level", [(None, None), ("pink", -45), ("white", -35),
                                        ("brown", -35)])
def test_alternating_turns_match_the_signal(kind, level):
    user = track(18, [("service", 1.0), ("answer", 10.9)])
    played = track(18, [("question", 5.0)])
    mic = user if kind is None else user + speech.noise(kind, user.size, level, seed=1)
    events = run(mic, played)
    got = turns(events)
    want = sorted([(USER, *s) for s in _reference(user)]
                  + [(ASSISTANT, *s) for s in _reference(played)], key=lambda r: r[1])
    assert [t.speaker for t in sorted(got, key=lambda t: t.start)] == [w[0] for w in want]
    for t, (_, start, end) in zip(sorted(got, key=lambda t: t.start), want):
        assert abs(t.start - start) <= START_TOL and abs(t.end - end) <= END_TOL, (t, start, end)
        assert not t.interrupted and not t.backchannels and t.text == ""
    # Each turn is announced once when it starts and once when it ends, in that order.
    order = [(type(e).__name__, e.speaker if isinstance(e, TurnStarted) else e.turn.speaker)
             for _, e in events if isinstance(e, (TurnStarted, TurnEnded))]
    assert order.count(("TurnStarted", USER)) == 2 == order.count(("TurnEnded", USER))
    for side in (USER, ASSISTANT):
        mine = [name for name, who in order if who == side]
        assert mine == ["TurnStarted", "TurnEnded"] * (len(mine) // 2)


def test_turns_end_soon_after_the_speaker_stops():
    """A turn ends (and can be stored) one pause length after its last sound, not later;
    the next speaker's turn starts within a quarter second."""
    user = track(12, [("service", 1.0)]) + speech.noise("pink", 12 * 24_000 // 1920 * 1920, -50)
    played = track(12, [("question", 5.0)])
    events = run(user, played)
    ended = {e.turn.speaker: when for when, e in events if isinstance(e, TurnEnded)}
    begun = {e.speaker: when for when, e in events if isinstance(e, TurnStarted)}
    user_turn = turns(events)[0]
    assert ended[USER] - user_turn.end <= 0.8 + 0.08 + 0.01
    assert begun[ASSISTANT] - 5.0 <= 0.25


def test_a_users_uh_huh_is_a_backchannel_not_a_turn():
    """No speech-to-text: half a second from the user while the assistant talks on."""
    mic = track(9, [("word", 2.5)]) + speech.noise("pink", 9 * 24_000 // 1920 * 1920, -50)
    played = track(9, [("question", 1.0)])
    events = run(mic, played)
    (turn,) = turns(events)
    assert turn.speaker == ASSISTANT and not turn.interrupted
    (b,) = turn.backchannels
    assert b.speaker == USER and b.text == ""
    assert abs(b.start - 2.5) <= START_TOL and abs(b.end - 2.95) <= END_TOL
    assert backchannels(events) == [b]
    assert all(e.speaker == ASSISTANT for e in started(events))


def test_the_assistants_uh_huh_with_words_is_a_backchannel():
    user = track(9, [("service", 1.0)])
    played = track(9, [("word", 2.5)])
    events = run(user, played, assistant_pieces=pieces_at(2.56, "\u2581Uh", "-", "huh", "."))
    (turn,) = turns(events)
    assert turn.speaker == USER
    assert [(b.speaker, b.text) for b in turn.backchannels] == [(ASSISTANT, "Uh-huh.")]


def test_a_short_sound_with_real_words_is_a_turn():
    user = track(9, [("service", 1.0)])
    played = track(9, [("word", 2.5)])
    events = run(user, played, assistant_pieces=pieces_at(2.56, "\u2581Sorry", ",", "\u2581what"))
    got = {t.speaker: t for t in turns(events)}
    assert got[ASSISTANT].text == "Sorry, what"
    assert not got[USER].backchannels


def test_a_yeah_after_the_other_stops_is_an_answer_not_a_backchannel():
    """Said in the assistant's pause, and the assistant does not go on: the floor passed."""
    mic = track(10, [("word", 5.8)])
    played = track(10, [("question", 1.0)])  # ends at 5.45
    events = run(mic, played, user_pieces=pieces_at(5.84, "\u2581yeah"))
    got = sorted(turns(events), key=lambda t: t.start)
    assert [(t.speaker, t.text) for t in got] == [(ASSISTANT, ""), (USER, "yeah")]
    assert not backchannels(events)
    assert not got[0].interrupted  # it had already stopped


def test_the_user_interrupts_and_the_assistant_stops():
    """The user cuts in at 3.0 s; the assistant stops half a second later."""
    mic = track(9, [("service", 3.0)]) + speech.noise("pink", 9 * 24_000 // 1920 * 1920, -50)
    played = track(9, [("question", 1.0, 2.5)])  # cut off at 3.5
    events = run(mic, played)
    got = {t.speaker: t for t in turns(events)}
    assert got[ASSISTANT].interrupted and not got[USER].interrupted
    assert abs(got[USER].start - 3.0) <= START_TOL and abs(got[ASSISTANT].end - 3.5) <= END_TOL
    # The interrupted turn is told as soon as its pause is long enough.
    when = next(w for w, e in events if isinstance(e, TurnEnded) and e.turn.speaker == ASSISTANT)
    assert when <= 3.5 + 0.8 + 0.1


def test_talking_over_each_other_without_giving_way_is_no_interruption():
    mic = track(10, [("service", 3.0)])
    played = track(10, [("question", 1.0), ("answer", 5.45)])  # goes on well past the user
    got = {t.speaker: t for t in turns(run(mic, played))}
    assert not got[ASSISTANT].interrupted and not got[USER].interrupted
    assert got[USER].start < got[ASSISTANT].end  # they overlap


def test_the_assistant_cuts_in_on_the_user():
    mic = track(9, [("answer", 1.0, 3.0)])  # the user stops at 4.0
    played = track(9, [("service", 3.4)])
    got = {t.speaker: t for t in turns(run(mic, played))}
    assert got[USER].interrupted and not got[ASSISTANT].interrupted


def test_words_from_speech_to_text_join_the_users_turns():
    user = track(12, [("service", 1.0)])
    words = ["\u2581I", "'m", "\u2581calling", "\u2581about", "\u2581my", "\u2581bill"]
    events = run(user, np.zeros_like(user), user_pieces=pieces_at(1.2, *words))
    (turn,) = turns(events)
    assert turn.text == "I'm calling about my bill"
    assert abs(turn.start - 1.0) <= START_TOL


def test_late_words_still_reach_their_turn():
    """A speech-to-text model half a second behind: words carry the time they were said."""
    user = track(8, [("service", 1.0)])  # speech until 4.17
    tracker = TurnTracker(TurnConfig(text_lag_s=0.6))
    late = {k: ("\u2581bill", 4.0) for k in [int((4.0 + 0.5) / 0.08)]}
    events = []
    for k in range(user.size // 1920):
        s = slice(k * 1920, (k + 1) * 1920)
        piece, said = late.get(k, (None, None))
        events += tracker.push(user[s], np.zeros(1920, np.float32), user_piece=piece,
                               user_piece_time=said)
    events += tracker.finish()
    (ended,) = [e for e in events if isinstance(e, TurnEnded)]
    assert ended.turn.text == "bill" and abs(ended.turn.end - 4.17) <= END_TOL


def test_clicks_and_bumps_are_not_turns():
    mic = speech.noise("pink", 6 * 24_000 // 1920 * 1920, -55)
    for at in (1.0, 2.5, 4.0):  # 40 ms knocks, 30 dB over the noise
        i = int(at * 24_000)
        mic[i:i + 960] += speech.noise("white", 960, -25, seed=int(at * 10))
    assert not turns(run(mic, np.zeros_like(mic)))


def test_the_echo_the_canceller_leaves_is_not_the_user():
    """Real echo cancellation (WebRTC's, through livekit) on the assistant's voice played
    into a simulated room (40 ms away, 120 ms reverberant tail, half as loud): while the
    canceller is still converging its leftover echo must not read as the user; the user
    talking over the assistant later must."""
    rng = np.random.default_rng(0)
    played = track(16, [("question", 0.5), ("answer", 5.5), ("service", 10.0)])
    delay, tail = int(0.040 * 24_000), int(0.120 * 24_000)
    response = rng.standard_normal(tail) * np.exp(-np.arange(tail) / (0.03 * 24_000))
    response *= 0.5 / np.sqrt((response ** 2).sum())
    echo = np.convolve(np.concatenate([np.zeros(delay), played]), response)[:played.size]
    user = track(16, [("service", 11.0)])
    mic = (echo + user + speech.noise("pink", user.size, -55)).astype(np.float32)
    canceller = EchoCanceller(delay_ms=40)
    clean = np.concatenate([canceller.cancel(mic[i:i + 1920], played[i:i + 1920])
                            for i in range(0, mic.size, 1920)])
    events = run(clean, played)
    users = [t for t in turns(events) if t.speaker == USER]
    assert len(users) == 1 and abs(users[0].start - 11.0) <= 0.15
    assert not backchannels(events)


def test_finish_closes_what_is_open():
    user = track(3.5, [("service", 0.5)])  # still talking when the conversation stops
    tracker = TurnTracker()
    for k in range(user.size // 1920):
        tracker.push(user[k * 1920:(k + 1) * 1920], np.zeros(1920, np.float32))
    (ended,) = tracker.finish()
    assert isinstance(ended, TurnEnded) and ended.turn.end == pytest.approx(3.44, abs=0.1)
    assert tracker.finish() == []


def test_backchannel_words():
    def words(*texts):
        return [Word(t, 0, 0) for t in texts]

    assert is_backchannel_text(words("Mm-hmm."))
    assert is_backchannel_text(words("Oh,", "I", "see"))
    assert is_backchannel_text([])
    assert not is_backchannel_text(words("No"))
    assert not is_backchannel_text(words("yeah", "yeah", "yeah", "right"))
    assert is_backchannel_text(words("Mm-h"), partial=True)
    assert not is_backchannel_text(words("Mm-h"))
    assert not is_backchannel_text(words("Yester"), partial=True)


def test_turn_is_the_one_memory_stores():
    from arcus_desktop.memory import capture

    assert capture.Turn is Turn
    t = Turn("user", "hello", 1.0, 2.0)  # the memory layer's four fields, positionally
    assert (t.interrupted, t.backchannels) == (False, [])


def test_events_cross_the_process_pipe():
    """The engine process sends them to the app: they must pickle."""
    import pickle

    mic = track(9, [("word", 2.5)])
    events = [e for _, e in run(mic, track(9, [("question", 1.0)]))]
    assert {type(e).__name__ for e in events} == {"TurnStarted", "Backchannel", "TurnEnded"}
    assert pickle.loads(pickle.dumps(events)) == events


def test_a_lone_word_start_piece_keeps_the_next_piece_a_word_of_its_own(tmp_path):
    # sentencepiece sends "▁" alone before a piece with no "▁" form ("▁", "14"): the
    # window showed "on 14 March", while the turn, the transcript and the recording (what
    # memory keeps) glued it: "on14 March2026".
    from arcus_desktop.audio.recording import ConversationRecorder, read
    from arcus_desktop.core.transcript import Transcript

    pieces = ["\u2581The", "\u2581meeting", "\u2581is", "\u2581on", "\u2581", "14",
              "\u2581March", "\u2581", "2026", "."]
    said = "The meeting is on 14 March 2026."
    transcript = Transcript(0.08)
    for i, p in enumerate(pieces):
        transcript.add(i, p, i * 0.08)
    assert transcript.text == said
    assert [w["text"] for w in transcript.to_dict()["words"]][-2:] == ["March", "2026."]

    tracker = TurnTracker()
    silence = np.zeros(1920, np.float32)
    loud = (0.3 * np.sin(np.arange(1920) / 3)).astype(np.float32)
    ended = []
    for p in pieces:
        ended += tracker.push(silence, loud, assistant_piece=p)
    for _ in range(20):
        ended += tracker.push(silence, silence)
    ended += tracker.finish()
    assert [e.turn.text for e in ended if isinstance(e, TurnEnded)] == [said]

    recorder = ConversationRecorder(directory=tmp_path)
    for p in pieces:
        recorder.write(silence, silence, p)
    recorder._sync()
    journal = read(recorder.wav_path)  # not finished: its journal, as after a crash
    recorder.finish()
    for data in (journal, read(recorder.wav_path)):
        assert " ".join(w["text"] for w in data["words"]["assistant"]) == said
