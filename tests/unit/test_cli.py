"""What the command line tells a user when things go wrong, and `doctor`."""

from arcus_desktop import cli
from arcus_desktop.core.errors import ArcusError


def test_user_errors_print_message_and_hint(monkeypatch, capsys):
    def boom(args):
        raise ArcusError("The thing broke.", "Do this next.")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 2
    err = capsys.readouterr().err
    assert err == "error: The thing broke.\n  Do this next.\n"


def test_unexpected_errors_are_logged_not_shown(monkeypatch, capsys, tmp_path):
    def boom(args):
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "kaboom" in err
    log = tmp_path / "data" / "logs" / "crash.log"
    assert "Traceback" in log.read_text() and str(log) in err


def test_gpu_out_of_memory_gets_a_way_forward(monkeypatch, capsys):
    class OutOfMemoryError(RuntimeError):
        pass

    def boom(args):
        raise OutOfMemoryError("CUDA out of memory")

    monkeypatch.setitem(cli.COMMANDS, "doctor", boom)
    assert cli.main(["doctor"]) == 2
    assert "GPU ran out of memory" in capsys.readouterr().err


def test_doctor_reports_every_part(capsys):
    assert cli.main(["doctor"]) == 0
    out = capsys.readouterr().out
    for key in ("arcus-desktop", "python", "torch", "gpu", "model", "memory database",
                "memory embeddings", "audio", "keyring"):
        assert any(line.startswith(key) for line in out.splitlines()), key
    assert "sqlite-vec loaded" in out  # through a fallback module where sqlite3 cannot
    assert "not installed" in out  # no model in this test's data dir
