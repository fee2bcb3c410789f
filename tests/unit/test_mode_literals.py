"""The engine's modes are spelled in one place, `arcus_desktop/core/modes.py`; every other
module names them through its constants (`modes.INT8`, `modes.SERVER`, ...).

The rule, checked on the syntax tree of every module of the package but core/modes.py:
a string literal whose whole value is a mode's name is a mode spelled again, and fails.
Every str constant counts (a dict key, a default, a comparison, an argparse choice, a
dtype-like name in the quantization code: quant.py's int8 *is* the mode int8, so it uses
the constant too). Words inside longer texts (messages, docstrings, f-string pieces) are
not literals of a mode and do not count (a piece of an f-string counts only when it is
nothing but a mode's name).

One exception, because the names overlap: "cpu" and "auto" are also torch device names
(the mode "cpu" runs on the device "cpu"). They are allowed where the syntax says device:
the value of a `device=` or `map_location=` keyword, or of `default=` in
`add_argument("--device", ...)`; an argument of a call to `device(...)` (torch.device);
a comparison with something called `device` or with a `.type` (device.type == "cpu");
the default of a field or parameter called `device`. Conditional expressions in those
places are looked through. Anywhere else "cpu" and "auto" are modes and fail like the
others.
"""

import ast
from pathlib import Path

import pytest

from arcus_desktop.core import modes

PACKAGE = Path(__file__).resolve().parents[2] / "arcus_desktop"
DEFINITION = PACKAGE / "core" / "modes.py"
NAMES = {modes.AUTO, modes.BF16, modes.INT8, modes.INT4, modes.OFFLOAD, modes.OFFLOAD_BF16,
         modes.SERVER, modes.CPU}
DEVICE_WORDS = {"cpu", "auto"}
DEVICE_KEYWORDS = {"device", "map_location"}


def _named_device(node: ast.AST) -> bool:
    return ((isinstance(node, ast.Name) and node.id == "device")
            or (isinstance(node, ast.Attribute) and node.attr in ("device", "type")))


def _is_device_place(node: ast.AST, parents: dict) -> bool:
    parent = parents.get(node)
    while isinstance(parent, (ast.IfExp, ast.Tuple, ast.Set, ast.List)):  # look through
        node, parent = parent, parents.get(parent)
    if isinstance(parent, ast.keyword):
        if parent.arg in DEVICE_KEYWORDS:
            return True
        call = parents.get(parent)
        return (parent.arg == "default" and isinstance(call, ast.Call) and bool(call.args)
                and isinstance(call.args[0], ast.Constant) and call.args[0].value == "--device")
    if isinstance(parent, ast.Call) and node in parent.args:
        func = parent.func
        return (isinstance(func, ast.Attribute) and func.attr == "device") or \
               (isinstance(func, ast.Name) and func.id == "device")
    if isinstance(parent, ast.Compare):
        return any(_named_device(side) for side in (parent.left, *parent.comparators))
    if isinstance(parent, ast.AnnAssign):
        return isinstance(parent.target, ast.Name) and parent.target.id == "device"
    if isinstance(parent, ast.arguments):
        pos = parent.posonlyargs + parent.args
        defaults = dict(zip(pos[len(pos) - len(parent.defaults):], parent.defaults))
        defaults.update((a, d) for a, d in zip(parent.kwonlyargs, parent.kw_defaults) if d)
        return any(d is node and a.arg == "device" for a, d in defaults.items())
    return False


def mode_literals(source: str) -> list[tuple[int, str]]:
    """(line, name) of every mode spelled as a literal in this source."""
    tree = ast.parse(source)
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Constant) and isinstance(node.value, str)
                and node.value in NAMES):
            continue
        if node.value in DEVICE_WORDS and _is_device_place(node, parents):
            continue
        found.append((node.lineno, node.value))
    return found


def test_no_mode_is_spelled_outside_core_modes():
    wrong = [f"{path.relative_to(PACKAGE)}:{line}: {name!r}"
             for path in sorted(PACKAGE.rglob("*.py")) if path != DEFINITION
             for line, name in mode_literals(path.read_text(encoding="utf-8"))]
    assert not wrong, "use arcus_desktop.core.modes' constants:\n" + "\n".join(wrong)


@pytest.mark.parametrize("source", [
    'if mode == "int8":\n    pass',  # the example: a ui module comparing with "int8"
    'LABELS = {"server": "Team server"}',
    'x = ("bf16", "int8", "int4")',
    'def load(quant_mode: str = "bf16"): ...',
    'if settings.engine.mode == "cpu": ...',  # "cpu" as a mode, not a device
    'saved = "auto"',
    'ap.add_argument("--mode", default="auto", choices=("auto", "offload-bf16"))',
    'available("int8", device, 1, 2, 3)',
])
def test_the_check_catches_a_spelled_mode(source):
    assert mode_literals(source)


@pytest.mark.parametrize("source", [
    'torch.device("cuda" if ok else "cpu")',
    'torch.load(f, map_location="cpu")',
    'LMModel(device="cpu")',
    'if device.type == "cpu": ...',
    'if config.device == "cpu": ...',
    'if device in (None, "auto"): ...',
    'ap.add_argument("--device", default="auto", help="auto, cpu or cuda")',
    'class C:\n    device: str = "auto"',
    'def f(device: str = "auto"): ...',
    'HostConfig(device="cpu" if cpu else "auto")',
    'x = modes.INT8',
    'note = "int8 weights"',  # words in a text
    'note = f"{mode} is int8"',
])
def test_device_names_and_texts_are_not_modes(source):
    assert mode_literals(source) == []
