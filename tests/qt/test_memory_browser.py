"""The memory browser on a real store file, through the real service and its thread:
search, filters, details, editing, adding, deleting, conversations and their playback,
export/import, and errors shown as messages."""

from __future__ import annotations

import json
import sqlite3
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QDate, QEvent, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from arcus_desktop.bridge.memory_service import GENERIC_ERROR, MemoryService
from arcus_desktop.memory.embedder import WordLlamaEmbedder
from arcus_desktop.memory.store import MemoryStore
from arcus_desktop.ui.memory_browser import SEARCH_DELAY_MS, MemoryBrowser
from arcus_desktop.ui.memory_browser import window as browser_window

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DAY = 86400.0
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def embedder():
    return WordLlamaEmbedder()


def write_wav(path: Path, seconds: float, rate: int = 8000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return path


@dataclass
class Seed:
    db: Path
    cid: str
    recording: Path
    memo_recording: Path
    turns: list
    cue: object
    fact: object
    pref: object
    old: object
    memo: object

    @property
    def all(self) -> list:
        return [*self.turns, self.cue, self.fact, self.pref, self.old, self.memo]


@pytest.fixture
def seeded(tmp_path, embedder) -> Seed:
    """A conversation of three turns with a recording, a fact noted in it, a fact from
    three days ago, a preference from today, a pinned fact from 40 days ago and a voice
    memo with its own recording."""
    data = tmp_path / "data"
    recording = write_wav(data / "recordings" / "20261120-100000-0a1b2c.wav", 12.0)
    memo_recording = write_wav(data / "recordings" / "20261121-090000-3d4e5f.wav", 3.0)
    store = MemoryStore(data / "memory.db", embedder=embedder)
    now = time.time()
    today = QDate.currentDate().startOfDay().toSecsSinceEpoch()
    start = now - min(600.0, (now - today) / 2)  # earlier today, even just after midnight
    cid = store.start_conversation("Arcus", str(recording), started_at=start,
                                   title="Planning the Lisbon trip")
    said = [("user", 0.5, "Can you help me plan the Lisbon trip?"),
            ("assistant", 3.2, "Of course. When does the conference start?"),
            ("user", 7.8, "The conference starts on October 4 and I fly out on the 2nd.")]
    turns = [store.add("episodic", text, speaker=who, conversation_id=cid,
                       audio_path=str(recording), audio_offset=at, audio_duration=2.0,
                       source="conversation", occurred_at=start + at) for who, at, text in said]
    cue = store.add("semantic", "The Lisbon conference starts on October 4", conversation_id=cid,
                    importance=0.8, source="cue:remember", occurred_at=start + 9.0)
    store.end_conversation(cid, ended_at=start + 11.0)
    fact = store.add("semantic", "Priya owns the database migration", importance=0.6,
                     occurred_at=now - 3 * DAY)
    pref = store.add("procedural", "I prefer short answers before noon",
                     occurred_at=start + 10.0)
    old = store.add("semantic", "The old office was on Baker Street", pinned=True,
                    occurred_at=now - 40 * DAY)
    memo = store.add("episodic", "Remind me to water the ferns", speaker="user",
                     audio_path=str(memo_recording), audio_offset=0.0, audio_duration=2.5,
                     source="conversation", occurred_at=now - 5 * DAY)
    store.close()
    return Seed(data / "memory.db", cid, recording, memo_recording, turns, cue, fact, pref,
                old, memo)


@pytest.fixture
def service(qtbot, seeded, embedder):
    s = MemoryService(seeded.db, embedder=embedder)
    yield s
    s.shutdown()
    assert s._thread.isFinished(), "the memory thread is still running"


def open_browser(qtbot, service) -> MemoryBrowser:
    b = MemoryBrowser(service)
    qtbot.addWidget(b)
    b.show()
    qtbot.waitExposed(b)
    qtbot.waitUntil(lambda: b.model.rowCount() > 0 or b.results.currentWidget() is b.empty,
                    timeout=WAIT_MS)
    return b


@pytest.fixture
def browser(qtbot, service) -> MemoryBrowser:
    return open_browser(qtbot, service)


def shown(b: MemoryBrowser) -> list[str]:
    return [b.model.memory(r).content for r in range(b.model.rowCount())]


def select(qtbot, b: MemoryBrowser, memory) -> None:
    row = b.model.row_of(memory.id)
    assert row >= 0, f"{memory.content!r} is not in the table"
    b.table.selectRow(row)
    qtbot.waitUntil(lambda: b.detail.memory is not None and b.detail.memory.id == memory.id)


def db_row(seed: Seed, memory_id: str):
    with sqlite3.connect(seed.db) as conn:  # an independent reader: what really is on disk
        return conn.execute("SELECT content, importance, pinned, kind, version, source "
                            "FROM memories WHERE id = ?", (memory_id,)).fetchone()


def db_count(seed: Seed, sql: str, params=()) -> int:
    with sqlite3.connect(seed.db) as conn:
        return conn.execute(sql, params).fetchone()[0]


def finished(qtbot, service, rid_call):
    """Run rid_call() and wait for the service's answer to that very request."""
    box = {}
    with qtbot.waitSignal(service.finished, timeout=WAIT_MS,
                          check_params_cb=lambda rid, _res: rid == box.get("rid")) as blocker:
        box["rid"] = rid_call()
    return blocker.args[1]


# --- listing, search, filters --------------------------------------------------------

def test_empty_search_lists_recent_memories_pinned_first(browser, seeded):
    assert set(shown(browser)) == {m.content for m in seeded.all}
    assert shown(browser)[0] == seeded.old.content  # pinned, though 40 days old
    assert shown(browser)[1] == seeded.pref.content  # then the newest
    assert shown(browser)[-1] == seeded.memo.content
    assert browser.count_label.text() == "8 memories, pinned first, then newest"
    assert browser.model.data(browser.model.index(0, 3)) == "Pinned · 50%"


def test_search_finds_the_right_memory_first_after_a_pause_in_typing(qtbot, browser, service,
                                                                     seeded):
    searches = []
    service.searched.connect(lambda rid, hits: searches.append(hits))
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        for text in ("who", "who is in charge", "who is in charge of the database migration"):
            browser.search.setText(text)  # faster than the debounce: one search at the end
    qtbot.wait(SEARCH_DELAY_MS * 2)
    assert len(searches) == 1
    assert shown(browser)[0] == seeded.fact.content
    assert "best match first" in browser.count_label.text()

    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        browser.search.setText("ferns")
    assert shown(browser)[0] == seeded.memo.content  # the rest follow by meaning, weaker

    browser.date_from.setDate(QDate.currentDate().addDays(-100))
    browser.date_to.setDate(QDate.currentDate().addDays(-90))
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        browser.date_filter.setCurrentIndex(browser.date_filter.findText("Custom range…"))
    assert shown(browser) == []
    assert browser.results.currentWidget() is browser.empty
    assert "Nothing matches “ferns”" in browser.empty.text()
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        browser.date_filter.setCurrentIndex(browser.date_filter.findText("Any time"))

    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        browser.search.clear()  # back to the recent list
    assert len(shown(browser)) == 8


def test_kind_filter(qtbot, browser, service, seeded):
    def choose(name):
        with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
            browser.kind_filter.setCurrentIndex(browser.kind_filter.findText(name))

    choose("Preferences")
    assert shown(browser) == [seeded.pref.content]
    choose("Facts")
    assert set(shown(browser)) == {seeded.cue.content, seeded.fact.content, seeded.old.content}
    choose("Conversation turns")
    assert set(shown(browser)) == {m.content for m in [*seeded.turns, seeded.memo]}

    choose("Facts")
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        browser.search.setText("Lisbon conference")
    assert shown(browser)[0] == seeded.cue.content  # the turns that say it are not facts
    assert seeded.turns[2].content not in shown(browser)


def test_date_filter(qtbot, browser, service, seeded):
    def choose(name):
        with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
            browser.date_filter.setCurrentIndex(browser.date_filter.findText(name))

    today = {m.content for m in [*seeded.turns, seeded.cue, seeded.pref]}
    choose("Today")
    assert set(shown(browser)) == today
    assert browser.custom_dates.isHidden()
    choose("Last 7 days")
    assert set(shown(browser)) == today | {seeded.fact.content, seeded.memo.content}
    choose("Last 30 days")
    assert seeded.old.content not in shown(browser)
    choose("Any time")
    assert seeded.old.content in shown(browser)

    choose("Custom range…")
    assert not browser.custom_dates.isHidden()
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        browser.date_from.setDate(QDate.currentDate().addDays(-45))
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        browser.date_to.setDate(QDate.currentDate().addDays(-35))
    assert shown(browser) == [seeded.old.content]
    assert browser.filters()[1:] == (
        QDate.currentDate().addDays(-45).startOfDay().toSecsSinceEpoch(),
        QDate.currentDate().addDays(-34).startOfDay().toSecsSinceEpoch())  # "to" day included


def test_sorting_by_a_column_and_back_to_the_ranking(qtbot, browser, seeded):
    ranked = shown(browser)
    select(qtbot, browser, seeded.fact)
    browser.table.sortByColumn(2, Qt.SortOrder.AscendingOrder)  # a click on "When"
    assert shown(browser)[0] == seeded.old.content and shown(browser)[-1] == seeded.pref.content
    assert browser.table.currentIndex().row() == browser.model.row_of(seeded.fact.id)
    browser.table.horizontalHeader().setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
    assert shown(browser) == ranked
    assert browser.detail.memory.id == seeded.fact.id


# --- details and editing ---------------------------------------------------------------

def test_selecting_shows_details(qtbot, browser, seeded):
    turn = seeded.turns[1]
    select(qtbot, browser, turn)
    d = browser.detail
    assert d.text.toPlainText() == turn.content
    assert d.kind.currentData() == "episodic"
    assert d.speaker.text() == "Arcus"
    assert d.source.text() == "Said in a conversation"
    qtbot.waitUntil(lambda: "Planning the Lisbon trip" in d.conversation_label.text())
    assert "at 0:03" in d.conversation_label.text()
    assert d.open_conversation.isEnabled() and browser.open_action.isEnabled()
    assert not d.save.isEnabled()

    select(qtbot, browser, seeded.fact)
    assert d.speaker.text() == "—" and d.conversation_label.text() == "—"
    assert d.importance.value() == 60 and not d.pinned.isChecked()
    assert not d.open_conversation.isEnabled()


def test_editing_saves_and_persists(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.fact)
    d = browser.detail
    d.text.setPlainText("Priya and Tom own the database migration")
    d.importance.setValue(90)
    d.pinned.setChecked(True)
    assert d.save.isEnabled() and not d.unsaved.isHidden()
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):  # saved, then the list refreshes
        d.save.click()
    assert db_row(seeded, seeded.fact.id) == ("Priya and Tom own the database migration", 0.9,
                                              1, "semantic", 2, "user")
    assert browser.detail.memory.id == seeded.fact.id  # still selected after the refresh
    assert not d.save.isEnabled()
    assert shown(browser)[0] in {seeded.old.content, "Priya and Tom own the database migration"}
    row = browser.model.row_of(seeded.fact.id)
    assert browser.model.data(browser.model.index(row, 3)) == "Pinned · 90%"
    assert browser.statusBar().currentMessage() == "Saved."

    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):  # the search sees the new words
        browser.search.setText("Tom")
    assert shown(browser)[0] == "Priya and Tom own the database migration"


def test_revert_and_kind_change(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.pref)
    d = browser.detail
    d.text.setPlainText("something else entirely")
    d.revert.click()
    assert d.text.toPlainText() == seeded.pref.content and not d.save.isEnabled()

    d.kind.setCurrentIndex(d.kind.findData("semantic"))
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        browser.save_action.trigger()
    assert db_row(seeded, seeded.pref.id)[3] == "semantic"


def test_a_refresh_keeps_what_the_user_is_typing(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.fact)
    browser.detail.text.setPlainText("half-typed correction")
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        browser.refresh()
    assert browser.detail.text.toPlainText() == "half-typed correction"
    assert browser.detail.save.isEnabled()


def test_an_edit_stays_when_newer_memories_push_its_memory_off_the_list(
        qtbot, browser, service, seeded, monkeypatch):
    """A conversation stores turns while the user corrects an old memory: the list
    refreshes without it, and the correction must still be there to save."""
    monkeypatch.setattr(browser_window, "LIST_LIMIT", 8)  # the 8 seeded memories fill it
    select(qtbot, browser, seeded.memo)  # the oldest unpinned one: the first to drop off
    d = browser.detail
    d.text.setPlainText("Remind me to water the ferns on Sundays")
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):  # as a stored turn refreshes
        service.add("episodic", "Something said in the conversation going on")
    assert seeded.memo.content not in shown(browser)
    assert d.memory.id == seeded.memo.id
    assert d.text.toPlainText() == "Remind me to water the ferns on Sundays"
    assert d.dirty and d.save.isEnabled() and browser.save_action.isEnabled()
    assert "dropped" not in browser.statusBar().currentMessage()
    assert "no longer in the list" in browser.statusBar().currentMessage()

    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):  # another turn: still kept
        service.add("episodic", "And something else")
    assert d.text.toPlainText() == "Remind me to water the ferns on Sundays"
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        d.save.click()
    assert db_row(seeded, seeded.memo.id)[0] == "Remind me to water the ferns on Sundays"


def edit_then_close(qtbot, browser, memory, text: str) -> QMessageBox:
    select(qtbot, browser, memory)
    browser.detail.text.setPlainText(text)
    browser.close()
    box = browser.close_prompt
    assert box is not None and box.isVisible()
    assert browser.isVisible()  # nothing closes until the user answers
    return box


def test_closing_with_an_unsaved_edit_asks_cancel_keeps_it_discard_drops_it(
        qtbot, browser, seeded):
    box = edit_then_close(qtbot, browser, seeded.fact, "Tom owns the database migration")
    assert box.defaultButton() is box.button(QMessageBox.StandardButton.Save)
    box.button(QMessageBox.StandardButton.Cancel).click()
    assert browser.close_prompt is None
    assert browser.isVisible() and browser.detail.dirty
    assert browser.detail.text.toPlainText() == "Tom owns the database migration"

    browser.close()
    browser.close_prompt.button(QMessageBox.StandardButton.Discard).click()
    qtbot.waitUntil(lambda: not browser.isVisible())
    assert not browser.detail.dirty
    assert db_row(seeded, seeded.fact.id)[0] == seeded.fact.content


def test_closing_with_an_unsaved_edit_and_choosing_save_saves_then_closes(
        qtbot, browser, service, seeded):
    box = edit_then_close(qtbot, browser, seeded.fact, "Tom owns the database migration")
    with qtbot.waitSignal(service.finished, timeout=WAIT_MS):
        box.button(QMessageBox.StandardButton.Save).click()
    qtbot.waitUntil(lambda: not browser.isVisible())
    assert db_row(seeded, seeded.fact.id)[0] == "Tom owns the database migration"


def test_quitting_with_an_unsaved_edit_keeps_it_without_asking(qtbot, browser, seeded,
                                                                request):
    """The real event loop and QApplication.quit(), as the tray's Quit, a logout or
    SIGTERM run it: no prompt holds the quit up, and the edit is saved."""
    select(qtbot, browser, seeded.fact)
    browser.detail.text.setPlainText("Tom owns the database migration")
    app = QApplication.instance()
    # As with the tray: closing the last window does not quit (here it would post a
    # second Quit that lands after exec() returns and stops every later event loop).
    was = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    request.addfinalizer(lambda: app.setQuitOnLastWindowClosed(was))
    stuck = QTimer(singleShot=True, interval=WAIT_MS)
    stuck.timeout.connect(lambda: app.exit(1))
    stuck.start()
    QTimer.singleShot(0, QApplication.quit)
    code = app.exec()  # returns once the app quits
    stuck.stop()
    assert code == 0 and browser.close_prompt is None and not browser.isVisible()
    qtbot.waitUntil(lambda: db_row(seeded, seeded.fact.id)[0] ==
                    "Tom owns the database migration", timeout=WAIT_MS)


def test_add_memory(qtbot, browser, service, seeded):
    dialog = browser.add_memory()
    assert not dialog.add_button.isEnabled()  # nothing typed yet
    dialog.kind.setCurrentIndex(dialog.kind.findData("procedural"))
    dialog.text.setPlainText("  Call me   Sam, never Samuel  ")
    dialog.importance.setValue(70)
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        dialog.add_button.click()
    qtbot.waitUntil(lambda: browser.detail.memory is not None
                    and browser.detail.memory.content == "Call me Sam, never Samuel")
    m = browser.detail.memory
    assert db_row(seeded, m.id) == ("Call me Sam, never Samuel", 0.7, 0, "procedural", 1, "user")
    assert "Call me Sam, never Samuel" in shown(browser)
    assert browser.statusBar().currentMessage() == "Added."


def test_adding_what_is_already_known_merges(qtbot, browser, service, seeded):
    dialog = browser.add_memory()
    dialog.text.setPlainText("Priya owns the database migration.")
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        dialog.add_button.click()
    assert browser.detail.memory.id == seeded.fact.id
    assert "merged" in browser.statusBar().currentMessage()
    assert db_count(seeded, "SELECT count(*) FROM memories") == 8


# --- deleting ----------------------------------------------------------------------------

def test_delete_removes_the_memory_and_its_unused_recording(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.memo)
    box = browser.delete_selected()
    assert box is browser.confirmation and box.isVisible()
    assert box.option is not None and "audio recording" in box.option.text()
    box.option.setChecked(True)
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        box.confirm_button.click()
    assert seeded.memo.content not in shown(browser)
    assert db_row(seeded, seeded.memo.id) is None
    assert db_count(seeded, "SELECT count(*) FROM tombstones WHERE id = ?", (seeded.memo.id,)) == 1
    assert not seeded.memo_recording.exists()
    assert browser.statusBar().currentMessage() == "Deleted."
    assert browser.detail.memory is not None  # the next memory moved into its place


def test_delete_keeps_a_recording_that_is_still_used(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.turns[0])
    box = browser.delete_selected()
    box.option.setChecked(True)
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        box.confirm_button.click()
    assert db_row(seeded, seeded.turns[0].id) is None
    assert seeded.recording.exists()  # the other turns still point at it


def test_delete_can_be_cancelled_and_asks_no_recording_question_without_one(qtbot, browser,
                                                                            seeded):
    select(qtbot, browser, seeded.fact)
    box = browser.delete_selected()
    assert box.option is None
    assert box.defaultButton() is not box.confirm_button  # Enter does not delete
    box.button(box.StandardButton.Cancel).click()
    qtbot.waitUntil(lambda: browser.confirmation is None)
    assert db_row(seeded, seeded.fact.id) is not None


def test_keyboard_search_table_and_delete(qtbot, browser, seeded):
    browser.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is browser)
    qtbot.keyClick(browser, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert browser.search.hasFocus()
    qtbot.keyClick(browser.search, Qt.Key.Key_Down)
    assert browser.table.hasFocus()
    assert browser.detail.memory.id == seeded.old.id  # the first row
    qtbot.keyClick(browser.table, Qt.Key.Key_Delete)
    qtbot.waitUntil(lambda: browser.confirmation is not None)
    assert browser.confirmation.isVisible()
    browser.confirmation.reject()


# --- conversations -------------------------------------------------------------------------

def open_conversation(qtbot, browser, memory):
    select(qtbot, browser, memory)
    browser.open_conversation()
    qtbot.waitUntil(lambda: browser.conversation_dialog is not None
                    and browser.conversation_dialog.isVisible(), timeout=WAIT_MS)
    return browser.conversation_dialog


def test_open_conversation_lists_its_turns_in_order(qtbot, browser, seeded):
    dialog = open_conversation(qtbot, browser, seeded.turns[1])
    rows = [[dialog.turns.item(r, c).text() for c in range(3)]
            for r in range(dialog.turns.rowCount())]
    assert rows == [["You", "0:00", seeded.turns[0].content],
                    ["Arcus", "0:03", seeded.turns[1].content],
                    ["You", "0:07", seeded.turns[2].content]]
    assert dialog.selected().id == seeded.turns[1].id  # opened at the selected turn
    assert "Planning the Lisbon trip" in dialog.header.text()
    assert [dialog.noted.item(i).text() for i in range(dialog.noted.count())] == [
        f"Fact: {seeded.cue.content}"]


def test_open_conversation_prepares_playback_at_the_turn(qtbot, browser, seeded):
    dialog = open_conversation(qtbot, browser, seeded.turns[1])
    player = dialog.playback.player
    want = str(seeded.recording.resolve())
    qtbot.waitUntil(lambda: player.source == want and player.position() == 3.2,
                    timeout=WAIT_MS)
    dialog.turns.selectRow(2)
    qtbot.waitUntil(lambda: player.position() == 7.8, timeout=WAIT_MS)
    dialog.play_selected()  # plays, or says why it cannot (no sound device): never raises
    assert "Playing from 0:07" in dialog.status.text()
    qtbot.waitUntil(lambda: not player.playing or player.position() > 7.8, timeout=WAIT_MS)
    assert "Traceback" not in dialog.status.text()
    dialog.close()
    qtbot.waitUntil(player.settled, timeout=WAIT_MS)  # let go of the sound device


def test_forget_conversation(qtbot, browser, service, seeded):
    select(qtbot, browser, seeded.cue)
    qtbot.waitUntil(lambda: browser.detail.conversation is not None)
    box = browser.forget_conversation()
    assert "Planning the Lisbon trip" in box.text()
    assert box.option is not None
    box.option.setChecked(True)
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        box.confirm_button.click()
    left = {seeded.fact.content, seeded.pref.content, seeded.old.content, seeded.memo.content}
    assert set(shown(browser)) == left
    assert db_count(seeded, "SELECT count(*) FROM memories WHERE conversation_id = ?",
                    (seeded.cid,)) == 0
    assert db_count(seeded, "SELECT count(*) FROM conversations") == 0
    assert not seeded.recording.exists()
    assert seeded.memo_recording.exists()
    assert "4 memories" in browser.statusBar().currentMessage()


def test_forget_from_the_conversation_window_keeps_the_recording_unless_asked(
        qtbot, browser, service, seeded):
    dialog = open_conversation(qtbot, browser, seeded.turns[0])
    dialog.forget.click()
    box = browser.confirmation
    assert box is not None and box.parent() is dialog
    with qtbot.waitSignal(service.listed, timeout=WAIT_MS):
        box.confirm_button.click()  # the box stays unticked
    assert not dialog.isVisible()
    assert db_count(seeded, "SELECT count(*) FROM conversations") == 0
    assert seeded.recording.exists()


# --- export, import, errors, notices ---------------------------------------------------

def test_export_then_import_into_a_fresh_store_round_trips(qtbot, browser, service, seeded,
                                                          tmp_path, embedder):
    target = tmp_path / "export" / "memories.json"
    target.parent.mkdir()
    with qtbot.waitSignal(service.exported, timeout=WAIT_MS) as exported:
        browser.export_to(target)
    assert exported.args == [8, str(target)]
    assert "Exported 8 memories to memories.json" in browser.statusBar().currentMessage()
    assert len(json.loads(target.read_text())["memories"]) == 8

    fresh = MemoryService(tmp_path / "elsewhere" / "memory.db", embedder=embedder)
    try:
        other = open_browser(qtbot, fresh)
        assert shown(other) == [] and "No memories here yet" in other.empty.text()
        with qtbot.waitSignal(fresh.listed, timeout=WAIT_MS):
            other.import_from(target)
        assert sorted(shown(other)) == sorted(m.content for m in seeded.all)
        assert "Imported 8" in other.statusBar().currentMessage()
        select(qtbot, other, seeded.turns[2])
        qtbot.waitUntil(lambda: "Planning the Lisbon trip"
                        in other.detail.conversation_label.text())
        hits = finished(qtbot, fresh, lambda: fresh.search("database migration owner"))
        assert hits[0].id == seeded.fact.id  # vectors were made for what came in
    finally:
        fresh.shutdown()


@pytest.mark.parametrize("content, expected", [
    ("this is not json", "cannot be imported"),
    ('{"format": "something else"}', "Choose a file exported by Arcus Desktop"),
    ("[]", ""),  # any readable line will do: the store may not recognise this shape
])
def test_a_bad_import_file_is_a_message_not_a_crash(qtbot, browser, service, tmp_path,
                                                    content, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    with qtbot.waitSignal(service.failed, timeout=WAIT_MS):
        browser.import_from(bad)
    text = browser.banner.text()
    assert text and expected in text
    assert "Traceback" not in text and "Error:" not in text
    assert browser.statusBar().currentMessage() == text
    assert len(shown(browser)) == 8


def test_startup_notices_are_shown(qtbot, tmp_path, embedder):
    path = tmp_path / "data" / "memory.db"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database" * 100)
    service = MemoryService(path, embedder=embedder)
    try:
        early = MemoryBrowser(service)  # made before the store opened: told by the signal
        qtbot.addWidget(early)
        qtbot.waitUntil(lambda: "damaged" in early.banner.text(), timeout=WAIT_MS)
        assert "moved" in early.banner.text()
        late = MemoryBrowser(service)  # opened from the tray later: told all the same
        qtbot.addWidget(late)
        assert "damaged" in late.banner.text()
    finally:
        service.shutdown()


# --- the service on its own ------------------------------------------------------------------

def test_service_errors_are_text_and_calls_after_shutdown_fail_politely(qtbot, service, seeded):
    with qtbot.waitSignal(service.failed, timeout=WAIT_MS) as failed:
        service.update("no-such-id", content="x")
    assert failed.args[1].startswith("This memory no longer exists.")
    with qtbot.waitSignal(service.failed, timeout=WAIT_MS) as failed:
        service.add("semantic", "   ")
    assert failed.args[1].startswith("A memory needs some text.")
    got = finished(qtbot, service, lambda: service.get(seeded.fact.id))
    assert got.content == seeded.fact.content
    cid_conv, cid_memories = finished(qtbot, service, lambda: service.conversation(seeded.cid))
    assert cid_conv.title == "Planning the Lisbon trip" and len(cid_memories) == 4

    service.shutdown()
    assert service._thread.isFinished()
    with qtbot.waitSignal(service.failed, timeout=WAIT_MS) as failed:
        service.list()
    assert failed.args[1] == "The memory store is closed."
    assert GENERIC_ERROR not in failed.args[1]


# --- the tray shell and a look at it ---------------------------------------------------------

def test_status_window_and_tray_open_the_browser(qtbot):
    from arcus_desktop.ui.app import ArcusApp

    app = ArcusApp(engine_factory=None, tray=True)
    window = app.window
    qtbot.addWidget(window)
    try:
        window.memories_button.click()
        browser = window.memory_browser
        qtbot.addWidget(browser)
        qtbot.waitExposed(browser)
        qtbot.waitUntil(lambda: browser.results.currentWidget() is browser.empty, timeout=WAIT_MS)
        action = app.tray.memories_action
        browser.close()
        action.trigger()
        assert browser.isVisible() and window.memory_browser is browser
    finally:
        window.memory_service.shutdown()


def test_screenshot(qtbot, browser, seeded):
    select(qtbot, browser, seeded.turns[1])
    qtbot.waitUntil(lambda: "Planning" in browser.detail.conversation_label.text())
    ARTIFACTS.mkdir(exist_ok=True)
    assert browser.grab().save(str(ARTIFACTS / "memory_browser.png"))
    dialog = open_conversation(qtbot, browser, seeded.turns[1])
    assert dialog.grab().save(str(ARTIFACTS / "memory_browser_conversation.png"))
    dialog.close()
    browser.resize(420, 640)  # narrow: the detail pane goes under the table
    qtbot.waitUntil(lambda: browser.splitter.orientation() == Qt.Orientation.Vertical
                    and browser.filter_box.y() > browser.search.y())  # laid out again
    assert browser.grab().save(str(ARTIFACTS / "memory_browser_narrow.png"))


# --- issue 16: names, folders and fresh results -----------------------------------------

@pytest.mark.parametrize("persona, expected", [
    (None, "with Arcus companion"),  # a preset's text: the preset's name
    ("You are Mira, a patient tutor who explains things step by step.", "with Mira"),
    ("Be brief and friendly with everyone.", "with a custom persona"),
])
def test_a_conversation_header_names_its_persona(qtbot, browser, seeded, embedder, persona,
                                                 expected):
    from arcus_desktop.core.persona import ARCUS_COMPANION

    store = MemoryStore(seeded.db, embedder=embedder)  # a conversation held meanwhile
    cid = store.start_conversation(persona or ARCUS_COMPANION, None, title="A chat")
    turn = store.add("episodic", "Hello there, how are you?", speaker="user",
                     conversation_id=cid, source="conversation")
    store.end_conversation(cid)
    store.close()
    browser.refresh()
    qtbot.waitUntil(lambda: browser.model.row_of(turn.id) >= 0, timeout=WAIT_MS)
    dialog = open_conversation(qtbot, browser, turn)
    header = dialog.header.text()
    assert expected in header and "You are" not in header


def test_search_results_follow_an_edit_made_outside_the_window(qtbot, browser, service,
                                                               seeded, embedder):
    """An edit made elsewhere (the settings' preview, sync, another process) shows when
    the user comes back to the window."""
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        browser.search.setText("database migration")
    assert shown(browser)[0] == seeded.fact.content
    store = MemoryStore(seeded.db, embedder=embedder)
    store.update(seeded.fact.id, content="Tom owns the database migration now")
    store.close()
    with qtbot.waitSignal(service.searched, timeout=WAIT_MS):
        QApplication.sendEvent(browser, QEvent(QEvent.Type.WindowActivate))
    assert "Tom owns the database migration now" in shown(browser)
    assert seeded.fact.content not in shown(browser)


def test_export_and_import_start_in_the_documents_folder(qtbot, browser, service, tmp_path,
                                                        monkeypatch):
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # the app was started from here: not where exports belong
    browser.choose_export()
    dialog = browser.file_dialog
    assert dialog.isVisible()
    assert Path(dialog.directory().absolutePath()) == home / "Documents"
    assert dialog.selectedFiles()[0] == str(home / "Documents" / "arcus-memories.json")
    with qtbot.waitSignal(service.exported, timeout=WAIT_MS):
        dialog.accept()
    exported = home / "Documents" / "arcus-memories.json"
    assert len(json.loads(exported.read_text())["memories"]) == 8
    assert browser.file_dialog is None

    dialog = browser.choose_import()
    assert Path(dialog.directory().absolutePath()) == home / "Documents"
    dialog.selectFile(str(exported))
    with qtbot.waitSignal(service.imported, timeout=WAIT_MS):
        dialog.accept()
    assert not list(work.iterdir())  # nothing landed where the app was started

