"""Live turn-taking from what the app hears: words (the assistant's pieces, the user's
speech-to-text when there is some) and voice activity from the level meters (a user
with no words shows as a "(speaking)" turn, "(spoke, no transcript)" once it ended). It
grows the current turn in place, starts a turn when the other speaker takes over, marks
a turn cut off when the other speaker started over it, and turns a short utterance made
while the other side kept talking into a backchannel marker on that side's turn, not a
row of its own.

Turn events from a turn detector (`add_turn`, `mark_backchannel`, `mark_interrupted`)
are taken as the truth and correct what the live guesses made. No Qt here: `rows` is
any object with `items`, `insert(row, turn)`, `remove(row)` and `changed(row)`."""

from __future__ import annotations

from ...core.turns import FRAME_S, TurnConfig, is_backchannel_words
from .turns import ASSISTANT, OTHER, USER, Backchannel, Turn

# The turn detector's own limits (core/turns.py), so that the live guess and the turns
# that correct it agree on what a turn and a backchannel are.
DETECTOR = TurnConfig()
GAP_S = DETECTOR.gap_s  # a pause longer than this inside one speaker's speech starts a new turn
BACKCHANNEL_S = DETECTOR.backchannel_max_s  # an utterance over the other speaker this short...
BACKCHANNEL_WORDS = DETECTOR.backchannel_max_words  # ...of this many "uh-huh"s may be one
# The live guess's own: it has only levels and words, no audio.
ACTIVE_S = 0.5  # a speaker counts as talking this long after its last word or sound
OVERLAP_S = 0.2  # overlap at a change of turn shorter than this is no interruption
LATE_S = 0.5  # words older than this (speech-to-text lags) go to the turn they belong to


class Rows:
    """The plain list TurnLog keeps its turns in (the Qt model brings its own)."""

    def __init__(self) -> None:
        self.items: list[Turn] = []

    def insert(self, row: int, turn: Turn) -> None:
        self.items.insert(row, turn)

    def remove(self, row: int) -> None:
        del self.items[row]

    def changed(self, row: int) -> None:
        pass


class TurnLog:
    def __init__(self, rows=None) -> None:
        self.rows = rows if rows is not None else Rows()
        self.clear()

    def clear(self) -> None:
        for row in reversed(range(len(self.rows.items))):
            self.rows.remove(row)
        self.now = 0.0
        self.last_active = {USER: float("-inf"), ASSISTANT: float("-inf")}
        self.open: dict[str, Turn | None] = {USER: None, ASSISTANT: None}
        self.pending: dict[str, Turn | None] = {USER: None, ASSISTANT: None}

    @property
    def turns(self) -> list[Turn]:
        return self.rows.items

    # --- what the app hears ------------------------------------------------------------

    def add_piece(self, speaker: str, piece: str, time: float) -> Turn:
        """A piece of `speaker`'s words heard at `time` seconds into the conversation."""
        late = time < self.now - LATE_S
        self.now = max(self.now, time)
        turn = self._turn_at(speaker, time) if late else None
        if turn is None:
            turn = self._active_turn(speaker, time)
        turn.pieces.append((piece, time))
        turn.end = max(turn.end, time + FRAME_S)
        self._touch(turn)
        if turn is self.pending[speaker] and not is_backchannel_words(
                [word for word, _ in turn.words()], BACKCHANNEL_WORDS, partial=True):
            self._commit(turn)
        return turn

    def voice(self, speaker: str, time: float) -> None:
        """Voice activity: `speaker` was audibly speaking in the frame at `time`."""
        self.now = max(self.now, time)
        turn = self._active_turn(speaker, time)
        turn.end = max(turn.end, time + FRAME_S)  # no repaint: a row shows its start time

    def tick(self, time: float) -> None:
        """The conversation's clock moved on (once a frame): settle the utterances that
        were waiting to be told apart from backchannels."""
        self.now = max(self.now, time)
        for speaker in (USER, ASSISTANT):
            waiting = self.pending[speaker]
            if waiting is None:
                continue
            other = OTHER[speaker]
            if waiting.duration > BACKCHANNEL_S + 1e-6:
                self._commit(waiting)
            elif not self.is_active(speaker, self.now):  # it ended short
                if self.open[other] is not None and self.is_active(other, self.now):
                    self.pending[speaker] = None
                    self._add_backchannel(self.open[other], waiting.start, waiting.text)
                else:  # the other side stopped for it: a short turn of its own
                    self._commit(waiting)

    def finish(self) -> None:
        """The conversation stopped: what was waiting becomes a turn, every turn ends."""
        for speaker in (USER, ASSISTANT):
            if self.pending[speaker] is not None:
                self._commit(self.pending[speaker])
        for speaker in (USER, ASSISTANT):
            if self.open[speaker] is not None:
                self._close(self.open[speaker])

    def is_active(self, speaker: str, time: float) -> bool:
        """Whether `speaker` was heard (words or voice) within ACTIVE_S before `time`."""
        return time - self.last_active[speaker] <= ACTIVE_S

    # --- what a turn detector says -----------------------------------------------------

    def add_turn(self, speaker: str, start: float, end: float, text: str = "",
                 interrupted: bool = False, backchannel: bool = False) -> Turn | None:
        """A finished turn as a turn detector saw it; it replaces the live guess."""
        self.now = max(self.now, end)
        if backchannel:
            self._drop(speaker, start, end)
            return self.mark_backchannel(speaker, start, text)
        turn = self._overlapping(speaker, start, end)
        if turn is None:
            turn = Turn(speaker, start, end, final=True)
            row = sum(t.start <= start for t in self.turns)
            self.rows.insert(row, turn)
        elif turn is self.pending[speaker]:
            self._commit(turn)
        turn.start, turn.end = min(turn.start, start), max(turn.end, end)
        turn.interrupted, turn.final, turn.closed_at = interrupted, True, self.now
        turn.detected = True
        if text:
            turn.text_override = text
        if self.open[speaker] is turn:
            self.open[speaker] = None
        self._absorb(turn, start, end)
        self._touch(turn)
        return turn

    def mark_backchannel(self, speaker: str, time: float, text: str = "") -> Turn | None:
        """`speaker` acknowledged at `time` ("uh-huh") without taking the turn: a marker on
        the other side's turn. The turn it went on, if there is one."""
        other = OTHER[speaker]
        target = None
        for turn in reversed(self.turns):
            if turn.speaker == other and turn.start <= time + FRAME_S:
                target = turn
                break
        if target is not None:
            self._add_backchannel(target, time, text)
        return target

    def mark_interrupted(self, speaker: str, time: float) -> Turn | None:
        """`speaker`'s turn that was going on at `time` was cut off."""
        turn = self._turn_at(speaker, time)
        if turn is not None and not turn.interrupted:
            turn.interrupted = True
            self._touch(turn)
        return turn

    # --- inside ------------------------------------------------------------------------

    def _active_turn(self, speaker: str, time: float) -> Turn:
        """The turn that `speaker` making sound or words at `time` belongs to; one is
        started if needed (held back while it may still be a backchannel)."""
        self.last_active[speaker] = max(self.last_active[speaker], time + FRAME_S)
        waiting = self.pending[speaker]
        if waiting is not None:
            waiting.end = max(waiting.end, time)
            return waiting
        current = self.open[speaker]
        if current is not None and time - current.end <= GAP_S:
            return current
        last = self._last_turn_of(speaker)
        if last is not None and last.interrupted and time - last.closed_at <= ACTIVE_S:
            return last  # the last words of a turn the other side has just cut off
        if last is not None and last.final and last.start <= time < last.end:
            return last  # sound a turn detector already put in that turn (levels trail it)
        if current is not None:
            self._close(current)
        turn = Turn(speaker, time, time)
        other = OTHER[speaker]
        if self.open[other] is not None and self.is_active(other, time):
            turn.overlapped = True
            self.pending[speaker] = turn
        else:
            self._commit(turn)
        return turn

    def _commit(self, turn: Turn) -> None:
        """Show a turn: the other speaker's turn ends here, cut off if it was going on."""
        speaker = turn.speaker
        if self.pending[speaker] is turn:
            self.pending[speaker] = None
        other = OTHER[speaker]
        previous = self.open[other]
        if previous is not None:
            # Cut off: the other side was still talking a moment after this turn began
            # (a small overlap at a change of turn is ordinary, not an interruption).
            cut = turn.overlapped and self.last_active[other] > turn.start + OVERLAP_S
            if cut and not previous.interrupted:
                previous.interrupted = True
                self._touch(previous)
            self._close(previous)
        if self.open[speaker] is not None and self.open[speaker] is not turn:
            self._close(self.open[speaker])
        self.open[speaker] = turn
        self.rows.insert(len(self.turns), turn)

    def _close(self, turn: Turn) -> None:
        turn.final, turn.closed_at = True, self.now
        if self.open[turn.speaker] is turn:
            self.open[turn.speaker] = None
        self._touch(turn)  # a finished turn shows how long it was

    def _add_backchannel(self, turn: Turn, time: float, text: str) -> None:
        for mark in turn.backchannels:
            if abs(mark.time - time) <= ACTIVE_S:  # the same one, told twice
                mark.text = text or mark.text
                break
        else:
            turn.backchannels.append(Backchannel(time, text))
            turn.backchannels.sort(key=lambda b: b.time)
        self._touch(turn)

    def _drop(self, speaker: str, start: float, end: float) -> None:
        """Forget what the live guesses made of a span a turn detector calls a backchannel."""
        waiting = self.pending[speaker]
        if waiting is not None and waiting.start <= end + ACTIVE_S:
            self.pending[speaker] = None
        for row in reversed(range(len(self.turns))):
            turn = self.turns[row]
            if (turn.speaker == speaker and start - ACTIVE_S <= turn.start <= end + ACTIVE_S
                    and len(turn.words()) <= BACKCHANNEL_WORDS):
                if self.open[speaker] is turn:
                    self.open[speaker] = None
                self.rows.remove(row)

    def _absorb(self, turn: Turn, start: float, end: float) -> None:
        """The live guesses split what a turn detector calls one turn (the other side
        spoke over it a while): the other parts go into `turn`, so that it is shown once."""
        for row in reversed(range(len(self.turns))):
            other = self.turns[row]
            if (other is turn or other.speaker != turn.speaker or other.detected
                    or not start - ACTIVE_S <= other.start <= end):
                continue
            turn.pieces = sorted(turn.pieces + other.pieces, key=lambda p: p[1])
            for mark in other.backchannels:
                self._add_backchannel(turn, mark.time, mark.text)
            turn.start, turn.end = min(turn.start, other.start), max(turn.end, other.end)
            if self.open[turn.speaker] is other:
                self.open[turn.speaker] = None
            self.rows.remove(row)
        row = self.turns.index(turn)
        before = sum(t.start <= turn.start for t in self.turns if t is not turn)
        if row != before:  # it now starts earlier than the rows it came after
            self.rows.remove(row)
            self.rows.insert(before, turn)

    def _overlapping(self, speaker: str, start: float, end: float) -> Turn | None:
        waiting = self.pending[speaker]
        if waiting is not None and waiting.start <= end and waiting.end >= start - ACTIVE_S:
            return waiting
        for turn in reversed(self.turns):
            if turn.speaker == speaker and turn.start <= end and turn.end >= start - ACTIVE_S:
                return turn
        return None

    def _turn_at(self, speaker: str, time: float) -> Turn | None:
        waiting = self.pending[speaker]
        if waiting is not None and waiting.start - LATE_S <= time:
            return waiting
        for turn in reversed(self.turns):
            if turn.speaker == speaker and turn.start - LATE_S <= time <= turn.end + GAP_S:
                return turn
        return None

    def _last_turn_of(self, speaker: str) -> Turn | None:
        for turn in reversed(self.turns):
            if turn.speaker == speaker:
                return turn
        return None

    def _touch(self, turn: Turn) -> None:
        turn.revision += 1
        for row in range(len(self.turns) - 1, -1, -1):  # the turn that changes is near the end
            if self.turns[row] is turn:
                self.rows.changed(row)
                return
