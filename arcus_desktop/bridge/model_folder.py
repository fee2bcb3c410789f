"""Check a folder the user says holds PersonaPlex (Settings > Engine > Model folder, the
setup wizard's "Use model files I already have", `arcus-desktop --model-dir`), and say
precisely which files are missing or wrong. No Qt and no torch here.

What is checked:
- layout: the five files the engine reads (engine.download.MODEL_FILES) are there;
- structure, for every file: config.json is a JSON object; each safetensors file is as long
  as its header says (a cut-off copy fails here) and the language model's tensors fit
  PersonaPlex's shapes; voices.tgz lists preset voices; the text tokenizer loads;
- checksums (`verify=True`): against what the download recorded, since this app ships no
  list of the published files' hashes. huggingface_hub records each file's hash when it
  downloads into a folder (`.cache/huggingface/download/<file>.metadata`, as
  `arcus-desktop download --model-dir` does), and names every file of its cache by that
  hash (a snapshot's links point to `blobs/<hash>`). A 64-digit hash is the file's
  SHA-256 (large files); a 40-digit one is git's blob SHA-1 (small files). A file with
  neither (copied without that folder) is checked for structure only, and the result
  says which files those are.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..core.errors import ArcusError
from ..engine import checkpoint
from ..engine import constants as C
from ..engine.download import MODEL_FILES
from ..engine.tokenizer import load_tokenizer
from ..engine.voice_files import preset_voice_names

METADATA = Path(".cache") / "huggingface" / "download"
CONFIG_LIMIT = 1 << 20  # config.json is a few hundred bytes; more is not a config
_HASH = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
Progress = Callable[[str, int, int], None]  # file name, bytes hashed, its size


class Cancelled(Exception):
    """The check was stopped (the wizard closed, the folder changed)."""


@dataclass
class FolderCheck:
    folder: Path
    problems: list[str] = field(default_factory=list)  # one line per missing or wrong file
    verified: list[str] = field(default_factory=list)  # checksum matched the recorded one
    unverified: list[str] = field(default_factory=list)  # no checksum recorded
    hint: str = ""  # what to do about the problems
    checksums_asked: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def text(self) -> str:
        """For the user: what is wrong, or what was found and how far it was checked."""
        if self.problems:
            head = f"{self.folder} cannot be used: " if len(self.problems) == 1 else \
                f"{self.folder} cannot be used:\n"
            lines = self.problems[0] if len(self.problems) == 1 else \
                "\n".join(f"• {p}" for p in self.problems)
            return head + lines + (f"\n{self.hint}" if self.hint else "")
        text = f"PersonaPlex-7B is in {self.folder}: all {len(MODEL_FILES)} files are there " \
               "and readable."
        if self.verified and not self.unverified:
            text += " Every checksum matches the one recorded when they were downloaded."
        elif self.verified:
            text += (f" Checksums match for {', '.join(self.verified)}; none is recorded for "
                     f"{', '.join(self.unverified)}, so those were checked for structure only.")
        elif self.unverified and self.checksums_asked:
            text += (" No checksums were recorded with these files (they were copied without "
                     "the download's .cache folder), so their structure was checked, not "
                     "their checksums.")
        return text


def check_folder(folder: str | os.PathLike, *, verify: bool = False,
                 progress: Progress | None = None,
                 cancel: threading.Event | None = None) -> FolderCheck:
    """Never raises for a bad folder (the result says what is wrong); raises Cancelled
    when `cancel` is set during a checksum."""
    root = Path(folder).expanduser()
    result = FolderCheck(root)
    result.checksums_asked = verify
    if not str(folder).strip():
        result.problems.append("no folder is given.")
        return result
    if not root.is_dir():
        result.problems.append("it is a file, not a folder." if root.exists() else
                               "the folder does not exist.")
        result.hint = "Choose the folder that holds model.safetensors and the other files."
        return result
    missing = [n for n in MODEL_FILES if not (root / n).is_file()]
    for name in missing:
        result.problems.append(f"{name} is missing.")
    if missing:
        inside = _model_below(root)
        result.hint = (f"The model files are in {inside}: choose that folder." if inside else
                       "Copy the missing files into it from the model page or a colleague's "
                       "copy, or download the model with `arcus-desktop download --model-dir "
                       f"{root}`.")
    config: dict | None = None
    for name in MODEL_FILES:
        if name in missing:
            continue
        problem = _structure(root, name, config)
        if name == C.CONFIG_FILE and problem is None:
            config = _read_config(root / name)
        if problem:
            result.problems.append(problem)
    if verify:
        for name in MODEL_FILES:
            if name in missing:
                continue
            expected = recorded_hash(root, name)
            if expected is None:
                result.unverified.append(name)
            elif _matches(root / name, expected, progress, cancel):
                result.verified.append(name)
            else:
                result.problems.append(f"{name} does not match the checksum recorded when it "
                                       "was downloaded: it is damaged or was changed.")
    if result.problems and not result.hint:
        result.hint = ("Replace the files named above with good copies (the model page, a "
                       "colleague's copy), or download the model again.")
    return result


def _structure(root: Path, name: str, config: dict | None) -> str | None:
    """What is wrong with the inside of one file, or None."""
    path = root / name
    try:
        if path.stat().st_size == 0:
            return f"{name} is empty."
        if name == C.CONFIG_FILE:
            _read_config(path)
        elif name == C.LM_FILE:
            header = checkpoint.read_header(path)
            checkpoint.lm_kwargs(config or _read_config(root / C.CONFIG_FILE, quiet=True), header)
        elif name == C.MIMI_FILE:
            checkpoint.read_header(path)
        elif name == C.VOICES_FILE:
            if not preset_voice_names(path):
                return f"{name} holds no preset voices."
        elif name == C.TOKENIZER_FILE:
            load_tokenizer(path)
    except ArcusError as e:
        message = e.message if e.message.startswith(name) else f"{name}: {e.message}"
        return message.rstrip(".") + "."
    except OSError as e:
        return f"{name} cannot be read ({e.strerror or e})."
    return None


def _read_config(path: Path, quiet: bool = False) -> dict:
    try:
        if path.stat().st_size > CONFIG_LIMIT:
            raise ValueError("too large")
        value = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(value, dict):
            raise ValueError("not an object")
        return value
    except (OSError, ValueError) as e:
        if quiet:
            return {}
        raise ArcusError(f"{C.CONFIG_FILE} is not a model configuration (JSON).") from e


def recorded_hash(root: Path, name: str) -> str | None:
    """The hash huggingface_hub recorded for `name`: its local-folder metadata, or the
    cache blob a snapshot's link points to. None when there is neither."""
    meta = root / METADATA / f"{name}.metadata"
    try:
        with open(meta, "r", encoding="utf-8") as f:
            lines = f.read(4096).splitlines()
        if len(lines) >= 2 and _HASH.match(lines[1].strip().lower()):
            return lines[1].strip().lower()
    except (OSError, UnicodeDecodeError):
        pass
    path = root / name
    if path.is_symlink():
        target = path.resolve()
        if target.parent.name == "blobs" and _HASH.match(target.name):
            return target.name
    return None


def _matches(path: Path, expected: str, progress: Progress | None,
             cancel: threading.Event | None) -> bool:
    size = path.stat().st_size
    h = hashlib.sha256() if len(expected) == 64 else hashlib.sha1(b"blob %d\0" % size)
    done = 0
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            h.update(chunk)
            done += len(chunk)
            if progress is not None:
                progress(path.name, done, size)
    return h.hexdigest() == expected


def _model_below(root: Path, depth: int = 4, budget: int = 2000) -> Path | None:
    """A folder under `root` that holds the model (e.g. a Hugging Face cache's
    snapshots/<commit>/), looked for within a few levels and entries."""
    seen = 0
    for here, dirs, files in os.walk(root):
        seen += len(dirs) + len(files)
        if seen > budget:
            return None
        rel = Path(here).relative_to(root)
        if rel.parts and all(n in files for n in MODEL_FILES):
            return Path(here)
        if len(rel.parts) >= depth:
            dirs.clear()
        dirs[:] = [d for d in dirs if d != ".cache"]
    return None
