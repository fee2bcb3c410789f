"""The app's log file (core/app_log.py): what "the details are in the log" points at.
Each case runs in a child process: the log is set up once per process, on the root
logger, as the app and each engine process do."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def run(code: str, data_dir) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, env={"ARCUS_DATA_DIR": str(data_dir),
                                                       "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_failure_is_logged_to_the_file_the_message_names(tmp_path):
    said = run("""
        import logging
        from arcus_desktop.bridge.tasks import GENERIC_ERROR
        from arcus_desktop.core import app_log
        print(app_log.start(rotate=True))
        try:
            raise RuntimeError("a bug")
        except RuntimeError:
            logging.getLogger("arcus_desktop.x").exception("saving failed")
        print(f"{GENERIC_ERROR} {app_log.details()}")
    """, tmp_path)
    path, message = said.splitlines()
    log = tmp_path / "logs" / "arcus.log"
    assert path == str(log)
    assert message == f"Something went wrong. The details are in {log}."
    text = log.read_text()
    assert "ERROR arcus_desktop.x: saving failed" in text and "RuntimeError: a bug" in text


def test_a_grown_log_is_started_afresh_and_the_old_one_kept(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "arcus.log").write_bytes(b"x" * (3 << 20))
    run("""
        import logging
        from arcus_desktop.core import app_log
        app_log.start(rotate=True)
        logging.getLogger("arcus_desktop.x").info("started")
    """, tmp_path)
    assert (logs / "arcus.log.1").stat().st_size == 3 << 20
    assert (logs / "arcus.log").read_text().endswith("INFO arcus_desktop.x: started\n")


def test_a_folder_that_cannot_be_written_leaves_the_app_running(tmp_path):
    # /sys refuses a new folder to anyone: the message then says only "the log".
    said = run("""
        from arcus_desktop.core import app_log, paths
        paths.data_dir = lambda: __import__("pathlib").Path("/sys/arcus-no-logs")
        print(app_log.start(rotate=True))
        print(app_log.details())
    """, tmp_path)
    assert said.splitlines() == ["None", "The details are in the log."]
