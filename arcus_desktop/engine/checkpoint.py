"""Find a PersonaPlex checkpoint folder and check it before any weight is read.

No torch here: the GUI process uses this to say whether a model is installed.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import CheckpointShapeError, CorruptFileError, ModelNotFoundError
from . import constants as C

REDOWNLOAD_HINT = "Download the model again with `arcus-desktop download`."
APP_REDOWNLOAD_HINT = "Run setup to download the model again."  # the app's way (engine/host.py)


@dataclass(frozen=True)
class ModelFiles:
    root: Path

    @property
    def lm(self) -> Path:
        return self.root / C.LM_FILE

    @property
    def mimi(self) -> Path:
        return self.root / C.MIMI_FILE

    @property
    def tokenizer(self) -> Path:
        return self.root / C.TOKENIZER_FILE

    @property
    def voices(self) -> Path:
        return self.root / C.VOICES_FILE

    @property
    def config(self) -> Path:
        return self.root / C.CONFIG_FILE

    def missing(self) -> list[str]:
        names = (C.LM_FILE, C.MIMI_FILE, C.TOKENIZER_FILE, C.VOICES_FILE, C.CONFIG_FILE)
        return [n for n in names if not (self.root / n).is_file()]


def locate(model_dir: str | os.PathLike | None = None) -> ModelFiles:
    """The checkpoint in `model_dir`, else the one in the Hugging Face cache."""
    if model_dir is not None:
        root = Path(model_dir).expanduser()
        if not root.is_dir():
            raise ModelNotFoundError(
                f"The model folder {root} does not exist.",
                "Pass the folder that holds model.safetensors, or run `arcus-desktop download`.",
            )
    else:
        from .download import find_cached_model

        found = find_cached_model()
        if found is None:
            raise ModelNotFoundError(
                "The PersonaPlex model is not installed yet.",
                "Run `arcus-desktop download` (needs a Hugging Face token), "
                "or pass --model-dir with a folder that holds it.",
            )
        root = Path(found)
    files = ModelFiles(root)
    missing = files.missing()
    if missing:
        raise ModelNotFoundError(
            f"The model folder {root} is incomplete: {', '.join(missing)} missing.",
            REDOWNLOAD_HINT,
        )
    return files


def read_header(path: Path) -> dict[str, tuple[str, list[int]]]:
    """Tensor names -> (dtype, shape) from a safetensors header; checks the file is whole."""
    return {k: (dtype, shape) for k, (dtype, shape, _, _) in tensor_index(path).items()}


def _raw_header(path: Path) -> tuple[dict, int, int]:
    """A safetensors file's JSON header (its length bounded before it is read), the
    header's length and the file's size."""
    corrupt = f"{path.name} is damaged or incomplete."
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CorruptFileError(corrupt, REDOWNLOAD_HINT, str(path))
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100 * 2**20):
                raise CorruptFileError(corrupt, REDOWNLOAD_HINT, str(path))
            header = json.loads(f.read(n))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptFileError(corrupt, REDOWNLOAD_HINT, str(path)) from e
    if not isinstance(header, dict):
        raise CorruptFileError(corrupt, REDOWNLOAD_HINT, str(path))
    return header, n, size


def metadata(path: Path) -> dict:
    """The header's `__metadata__` (the strings a writer left there; {} if none)."""
    found = _raw_header(path)[0].get("__metadata__")
    return found if isinstance(found, dict) else {}


def tensor_index(path: Path) -> dict[str, tuple[str, list[int], int, int]]:
    """Tensor names -> (dtype, shape, first byte, end byte) in the file; checks it is whole."""
    header, n, size = _raw_header(path)
    header.pop("__metadata__", None)
    end = max((v["data_offsets"][1] for v in header.values()), default=0)
    if 8 + n + end != size:
        raise CorruptFileError(
            f"{path.name} is {size:,} bytes but should be {8 + n + end:,}: "
            "the download was cut short or the file is damaged.",
            REDOWNLOAD_HINT,
            str(path),
        )
    base = 8 + n
    return {k: (v["dtype"], list(v["shape"]), base + v["data_offsets"][0], base + v["data_offsets"][1])
            for k, v in header.items()}


def file_hash(path: Path, h) -> str:
    """The hex digest of a file's bytes with the hashlib object `h`."""
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def read_config(files: ModelFiles) -> dict:
    try:
        return json.loads(files.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorruptFileError("config.json cannot be read.", REDOWNLOAD_HINT, str(files.config)) from e


def _count(header: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return len({m.group(1) for k in header if (m := rx.match(k))})


def lm_kwargs(config: dict, header: dict) -> tuple[dict, int]:
    """moshi LMModel kwargs for these weights, and how many depformer steps they hold.

    Defaults are PersonaPlex-7B's; config.json may override any of them (top level
    or under "lm_kwargs"). The weights must agree with the result.
    """
    kwargs = dict(C.PERSONAPLEX_LM_KWARGS)
    source = config.get("lm_kwargs", config)
    for key in kwargs:
        if key in source:
            kwargs[key] = source[key]

    def shape(name: str) -> list[int]:
        if name not in header:
            raise CheckpointShapeError(
                f"The weights have no tensor {name}: this is not a PersonaPlex checkpoint.",
                REDOWNLOAD_HINT,
            )
        return header[name][1]

    dim, text_card = kwargs["dim"], kwargs["text_card"]
    expected = {
        "text_emb.weight": [text_card + 1, dim],
        "emb.0.weight": [kwargs["card"] + 1, dim],
        "text_linear.weight": [text_card, dim],
    }
    for name, want in expected.items():
        got = shape(name)
        if got != want:
            raise CheckpointShapeError(
                f"The weights do not fit the model: {name} is {got}, expected {want}.",
                "The checkpoint and its config.json belong to different models. " + REDOWNLOAD_HINT,
            )
    layers = _count(header, r"transformer\.layers\.(\d+)\.")
    if layers != kwargs["num_layers"]:
        raise CheckpointShapeError(
            f"The weights hold {layers} transformer layers, expected {kwargs['num_layers']}.",
            REDOWNLOAD_HINT,
        )
    audio_streams = _count(header, r"emb\.(\d+)\.weight")
    if audio_streams != kwargs["n_q"]:
        raise CheckpointShapeError(
            f"The weights hold {audio_streams} audio streams, expected {kwargs['n_q']}.",
            REDOWNLOAD_HINT,
        )
    dep_steps = _count(header, r"linears\.(\d+)\.weight")
    if dep_steps < C.NUM_CODEBOOKS:
        raise CheckpointShapeError(
            f"The weights hold {dep_steps} depformer steps; at least {C.NUM_CODEBOOKS} are needed.",
            REDOWNLOAD_HINT,
        )
    return kwargs, dep_steps


def mimi_config(config: dict) -> dict | None:
    """A Mimi architecture override (test checkpoints); None means the standard Mimi."""
    return config.get("mimi_config")
