"""The import contract of docs/ARCHITECTURE.md: every third-party library belongs to the
layers that own it, and nothing imports upward (ui -> bridge -> {engine, audio, remote,
memory, sync, settings} -> core)."""

import ast
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "arcus_desktop"

# library -> the layers (top-level packages; a module at the package's root by its name)
# that may import it. A third-party library that is not listed fails the test: a new one
# must be given an owner here.
OWNERS = {
    "torch": {"engine"},
    "moshi": {"engine"},
    "triton": {"engine"},
    "safetensors": {"engine"},
    "sentencepiece": {"engine"},
    "huggingface_hub": {"engine"},  # the download lives in engine/download.py
    "requests": {"engine"},  # huggingface_hub's transport errors, in engine/download.py
    "PySide6": {"ui", "bridge"},
    "jeepney": {"bridge"},  # the desktop portal's global shortcut (D-Bus)
    "supabase": {"sync"},
    "supabase_auth": {"sync"},
    "postgrest": {"sync"},
    "httpx": {"sync"},
    "sounddevice": {"audio"},
    "soxr": {"audio"},
    "pyloudnorm": {"audio"},
    "livekit": {"audio"},  # WebRTC's echo cancellation
    # Opus: recordings and voice files, the remote engine, the team server; the smoke
    # test's Opus round trip for a client without a server.
    "sphn": {"audio", "remote", "server", "smoke"},
    "websockets": {"remote"},
    "aiohttp": {"server"},
    "cryptography": {"server"},  # serve --make-cert
    "sqlite_vec": {"memory"},
    "wordllama": {"memory"},
    "keyring": {"settings"},
    "platformdirs": {"core"},
    "tqdm": {"cli"},
}
ANYWHERE = {"numpy"}  # the arrays every layer hands to the next
# layer -> layers it must not import
FORBIDDEN = {
    "core": {"engine", "audio", "remote", "server", "memory", "sync", "settings", "bridge", "ui"},
    "engine": {"bridge", "ui", "memory", "sync", "remote", "server"},
    "audio": {"bridge", "ui", "engine", "memory", "sync", "remote", "server"},
    "settings": {"bridge", "ui", "engine", "server"},
    "memory": {"bridge", "ui", "engine", "audio", "sync", "remote", "server"},
    "sync": {"bridge", "ui", "engine", "audio", "remote", "server"},
    "server": {"bridge", "ui", "memory", "sync", "settings"},
    # The remote engine reuses the engine process's torch-free loop (engine.host); the
    # no-torch test in tests/qt/test_remote_app.py runs it with torch unimportable.
    "remote": {"bridge", "ui", "memory", "sync", "server"},
    "bridge": {"ui", "server"},
    # Widgets only: the rest of the app is reached through bridge/ (and core's values).
    "ui": {"engine", "audio", "remote", "server", "memory", "sync", "settings"},
}


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0
        elif isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level


def _layer_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE).parts
    return rel[0] if len(rel) > 1 else ""


def _target_layer(path: Path, module: str, level: int) -> str | None:
    if level == 0:
        parts = module.split(".")
        return parts[1] if parts[0] == "arcus_desktop" and len(parts) > 1 else None
    base = path.relative_to(PACKAGE).parts[:-1]
    up = base[: len(base) - (level - 1)] if level - 1 <= len(base) else ()
    parts = [*up, *[p for p in module.split(".") if p]]
    return parts[0] if parts else None


def _owner_of(path: Path) -> str:
    """The layer of a module, or the name of a module at the package's root (cli, smoke)."""
    return _layer_of(path) or path.stem


def _third_party(module: str, level: int) -> str | None:
    top = module.split(".")[0]
    if level or not top or top in sys.stdlib_module_names or top in ("arcus_desktop", "__future__"):
        return None
    return top


def test_library_owners():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        owner = _owner_of(path)
        for module, level in _imports(path):
            top = _third_party(module, level)
            if top is None or top in ANYWHERE:
                continue
            if top not in OWNERS:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}, which has no owner "
                             "in OWNERS")
            elif owner not in OWNERS[top]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not wrong, wrong


def test_every_owned_library_is_still_imported():
    """An owner entry for a library nothing imports any more is a rule that cannot fail."""
    used = {top for path in PACKAGE.rglob("*.py") for module, level in _imports(path)
            if (top := _third_party(module, level))}
    assert set(OWNERS) - used - {"postgrest"} == set()  # postgrest: supabase's, kept in sync/


def test_no_upward_imports():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        layer = _layer_of(path)
        for module, level in _imports(path):
            target = _target_layer(path, module, level)
            if target in FORBIDDEN.get(layer, ()):
                wrong.append(f"{path.relative_to(PACKAGE)} imports {target}")
    assert not wrong, wrong


def test_the_server_loads_the_engine_only_when_it_runs():
    """`arcus-desktop serve --help` stays fast: server modules import engine modules (and
    so torch) inside functions only."""
    wrong = []
    for path in (PACKAGE / "server").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                target = _target_layer(path, module or "", getattr(node, "level", 0))
                if target == "engine":
                    wrong.append(f"{path.relative_to(PACKAGE)} imports the engine at load time")
    assert not wrong, wrong
