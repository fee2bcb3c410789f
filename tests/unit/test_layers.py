"""The import contract of docs/ARCHITECTURE.md: heavy or platform libraries stay in
the one layer that owns them, and nothing imports upward."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "arcus_desktop"

OWNERS = {
    "torch": {"engine"},
    "moshi": {"engine"},
    "PySide6": {"ui", "bridge"},
    "supabase": {"sync"},
    "supabase_auth": {"sync"},
    "postgrest": {"sync"},
}
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


def test_library_owners():
    wrong = []
    for path in PACKAGE.rglob("*.py"):
        layer = _layer_of(path)
        for module, level in _imports(path):
            top = module.split(".")[0]
            if level == 0 and top in OWNERS and layer not in OWNERS[top]:
                wrong.append(f"{path.relative_to(PACKAGE)} imports {module}")
    assert not wrong, wrong


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
