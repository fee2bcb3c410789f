"""Who is talking when: the conversation cut into user and assistant turns as it happens,
one 80 ms frame at a time, with overlaps, interruptions and backchannels.

Each side's speech comes from its audio (voice activity) and its text pieces, if any.
New speech while the other side holds a turn stays undecided for a moment: short, with
only words like "uh-huh" (or none), and the other side carries on, it is a backchannel
inside the other's turn; otherwise it is a turn of its own, and the other's turn is
marked interrupted if it stopped soon after."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from .transcript import Word, Words, add_piece
from .vad import BLOCK, VadConfig, VoiceActivity

FRAME_S = 0.08
USER, ASSISTANT = "user", "assistant"

# Short acknowledgements that leave the floor with the speaker (letters only).
BACKCHANNEL_WORDS = frozenset(
    "uhhuh uh huh mmhmm mhm mm hmm hm umhum yeah yes yep yup right okay ok sure oh ah aha "
    "i see got it wow really exactly true alright".split())


@dataclass
class Backchannel:
    speaker: str
    start: float
    end: float
    text: str = ""


@dataclass
class Turn:
    speaker: str  # user or assistant
    text: str  # empty when that side has no words (no speech-to-text for the user)
    start: float  # seconds from the start of the conversation's recording
    end: float
    interrupted: bool = False  # the other side cut in and this one stopped soon after
    backchannels: list[Backchannel] = field(default_factory=list)  # the other side's, inside


@dataclass
class TurnStarted:
    speaker: str
    start: float


@dataclass
class TurnEnded:
    turn: Turn


@dataclass
class TurnConfig:
    gap_s: float = 0.8  # silence that ends a turn
    min_speech_s: float = 0.2  # less than this, with no words, is noise
    backchannel_max_s: float = 1.0  # longer than this is never a backchannel
    backchannel_max_words: int = 3
    carry_on_s: float = 0.4  # the other side talking this long after it: a backchannel
    interrupt_window_s: float = 2.0  # stopping this soon after the other cut in
    text_lag_s: float = 0.0  # how late words may arrive after their audio
    echo_margin_db: float = 25.0  # the user's mic must be this close to what was played
    user_vad: VadConfig = field(default_factory=VadConfig)
    assistant_vad: VadConfig = field(default_factory=VadConfig)


def is_backchannel_text(words: list[Word], max_words: int = 3, partial: bool = False) -> bool:
    """Only words like "uh-huh" or "I see", or none. `partial`: the last word may still be
    growing piece by piece, so a beginning of one ("Uh-") counts too."""
    return is_backchannel_words([w.text for w in words], max_words, partial)


def is_backchannel_words(words: list[str], max_words: int = 3, partial: bool = False) -> bool:
    """is_backchannel_text for words as plain strings (the live transcript's)."""
    names = [re.sub(r"[^a-z']", "", w.lower()) for w in words]
    names = [n for n in names if n]
    if len(names) > max_words:
        return False
    if partial and names:
        *names, last = names
        if not any(b.startswith(last) for b in BACKCHANNEL_WORDS):
            return False
    return all(n in BACKCHANNEL_WORDS for n in names)


class _Speech:
    """One side's speech not yet closed: undecided, or a turn."""

    def __init__(self, speaker: str, start: float, inside: _Speech | None) -> None:
        self.speaker = speaker
        self.start = start
        self.last = start  # end of its latest sound
        self.words: list[Word] = Words()
        self.is_turn = False
        self.inside = inside  # the other side's turn it began in, while undecided
        self.interrupted = False
        self.backchannels: list[Backchannel] = []

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def turn(self) -> Turn:
        return Turn(self.speaker, self.text, round(self.start, 3), round(self.last, 3),
                    self.interrupted, self.backchannels)


class TurnTracker:
    """Call `push` once per frame with what the microphone heard (echo cancelled) and
    what the assistant played, plus each side's text piece for that frame if any; it
    returns the events that happened: TurnStarted, Backchannel, TurnEnded. `finish`
    closes what is still open at the end of the conversation."""

    def __init__(self, config: TurnConfig | None = None) -> None:
        self.config = c = config or TurnConfig()
        self.vad = {USER: VoiceActivity(c.user_vad), ASSISTANT: VoiceActivity(c.assistant_vad)}
        self.open: dict[str, _Speech | None] = {USER: None, ASSISTANT: None}
        self.ended: dict[str, Turn | None] = {USER: None, ASSISTANT: None}  # latest of each
        self.time = 0.0
        self._played = np.full(2 * BLOCK, -120.0)  # recent assistant levels, for the echo bar

    def push(self, mic: np.ndarray, played: np.ndarray, assistant_piece: str | None = None,
             user_piece: str | None = None, user_piece_time: float | None = None) -> list:
        """`user_piece_time`: when the user said it, if not during this frame (a
        speech-to-text model that runs late); `text_lag_s` must cover that delay."""
        c = self.config
        t0 = self.time
        self.time = round(t0 + len(mic) / 24_000, 6)
        out: list = []
        said = self.vad[ASSISTANT].push(played)
        levels = self.vad[ASSISTANT].last_levels
        # Echo reaches the mic a little later and rings on: bar each mic block by the
        # loudest of the last 150 ms that was played.
        history = np.concatenate([self._played, levels])
        self._played = history[-2 * BLOCK:]
        window = np.lib.stride_tricks.sliding_window_view(history, 15)[-len(levels):]
        heard = self.vad[USER].push(mic, guard_db=window.max(axis=1),
                                    guard_margin_db=c.echo_margin_db)
        self._sound(ASSISTANT, said.start, said.last, out)
        self._sound(USER, heard.start, heard.last, out)
        if assistant_piece:
            self._words(ASSISTANT, assistant_piece, t0, out)
        if user_piece:
            self._words(USER, user_piece, t0 if user_piece_time is None else user_piece_time, out)
        self._decide(self.time, out)
        return out

    def finish(self) -> list:
        """The conversation is over: decide and close everything still open."""
        out: list = []
        self._decide(self.time + self.config.gap_s + self.config.text_lag_s + 1.0, out)
        return out

    # --- sounds and words ---------------------------------------------------------------

    def _sound(self, side: str, start: float | None, last: float | None, out: list) -> None:
        if start is not None:
            self._speech(side, start, out)
        elif last is not None and self.open[side] is None:  # sound on after its speech closed
            self._speech(side, last - BLOCK / 24_000, out)
        if last is not None and self.open[side] is not None:
            self.open[side].last = max(self.open[side].last, last)

    def _speech(self, side: str, at: float, out: list) -> _Speech:
        """The side's open speech, continued, or new speech from `at`."""
        c = self.config
        now = self.open[side]
        if now is not None:
            waiting = self.open[_other(side)]
            if at - now.last <= c.gap_s or (waiting is not None and waiting.inside is now):
                return now  # (the other side's undecided sound waits on this turn)
            if not now.is_turn:  # it is over: decide it before anything new
                self._classify(now, now.last + c.gap_s + c.text_lag_s, out)
            self._close(side, out)
        other = self.open[_other(side)]
        alive = other is not None and other.is_turn and at - other.last <= c.gap_s
        now = self.open[side] = _Speech(side, at, other if alive else None)
        return now

    def _words(self, side: str, piece: str, at: float, out: list) -> None:
        if not piece.strip(" \u2581"):  # no sound of its own: starts nothing
            if self.open[side] is not None:  # a lone "▁": the next piece starts a word
                add_piece(self.open[side].words, piece, at, FRAME_S)
            return
        speech = self._speech(side, at, out)
        add_piece(speech.words, piece, at, FRAME_S)
        speech.last = max(speech.last, at + FRAME_S)

    # --- decisions ----------------------------------------------------------------------

    def _decide(self, now: float, out: list) -> None:
        for side in (USER, ASSISTANT):
            s = self.open[side]
            if s is not None and not s.is_turn:
                self._classify(s, now, out)
        for side in (USER, ASSISTANT):
            s = self.open[side]
            if s is None or not s.is_turn:
                continue
            waiting = self.open[_other(side)]
            held = waiting is not None and not waiting.is_turn and waiting.inside is s
            if now - s.last >= self.config.gap_s + self.config.text_lag_s and not held:
                self._close(side, out)

    def _classify(self, s: _Speech, now: float, out: list) -> None:
        c = self.config
        span = s.last - s.start
        noise = span < c.min_speech_s and not s.words
        over = now - s.last >= c.gap_s + c.text_lag_s  # it has surely ended
        if s.inside is None or s.inside is not self.open[s.inside.speaker]:
            if not noise:
                self._promote(s, out)
            elif over:
                self.open[s.speaker] = None
            return
        host = s.inside
        if now - host.last >= c.gap_s + c.text_lag_s and s.start >= host.last:
            s.inside = None  # the other side's turn ended before this began
            return self._classify(s, now, out)
        if (span > c.backchannel_max_s
                or not is_backchannel_text(s.words, c.backchannel_max_words, partial=True)):
            self._promote(s, out)
        elif now - s.last >= c.carry_on_s and host.last >= s.last + c.carry_on_s:
            self._backchannel(s, host, noise, out)  # the other side carried on
        elif over or now - host.last >= c.gap_s + c.text_lag_s:  # nobody carried on
            if s.words and host.last > s.start:  # "mm-hmm" over the other's last words
                if over:
                    self._backchannel(s, host, False, out)
            elif noise:
                if over:
                    self.open[s.speaker] = None
            else:  # the other side stopped: this one has the floor
                self._promote(s, out)

    def _backchannel(self, s: _Speech, host: _Speech, noise: bool, out: list) -> None:
        if not is_backchannel_text(s.words, self.config.backchannel_max_words):
            return self._promote(s, out)  # its last word grew into something else
        self.open[s.speaker] = None
        if noise:
            return
        b = Backchannel(s.speaker, round(s.start, 3), round(s.last, 3), s.text)
        host.backchannels.append(b)
        out.append(b)

    def _promote(self, s: _Speech, out: list) -> None:
        s.is_turn = True
        host, s.inside = s.inside, None
        out.append(TurnStarted(s.speaker, round(s.start, 3)))
        if host is not None and host is self.open[host.speaker] and host.last <= s.start:
            self._close(host.speaker, out)  # began in the other's pause: the floor passed

    def _close(self, side: str, out: list) -> None:
        s = self.open[side]
        self.open[side] = None
        if s is None or not s.is_turn:
            return
        c = self.config
        other = self.open[_other(side)]
        for o in (other if other and other.is_turn else None, self.ended[_other(side)]):
            if o is None:
                continue
            o_last = o.last if isinstance(o, _Speech) else o.end
            if (s.start < o.start < s.last <= o.start + c.interrupt_window_s
                    and o_last > s.last):
                s.interrupted = True
        turn = s.turn()
        self.ended[side] = turn
        out.append(TurnEnded(turn))


def _other(side: str) -> str:
    return ASSISTANT if side == USER else USER
