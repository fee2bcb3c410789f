"""Find and check a Kyutai speech-to-text checkpoint (the `kyutai/stt-1b-en_fr` layout).

No torch here: the GUI process uses this to say whether user words are available.
The layout is the one moshi's `CheckpointInfo` reads: config.json holds the LMModel
kwargs plus `model_type` "stt", `stt_config`, `mimi_name`, `tokenizer_name` and a few
keys that are not model kwargs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..core.errors import CheckpointShapeError, CorruptFileError, ModelNotFoundError
from . import checkpoint

HINT = "Download it again with `arcus-desktop download --stt`."
NOT_INSTALLED = ("No speech-to-text model installed: user speech appears as timed turns "
                 "without words.")

# The files' names where config.json does not give them (kyutai/stt-1b-en_fr's).
LM_NAME = "model.safetensors"
MIMI_NAME = "mimi-pytorch-e351c8d8@125.safetensors"
TOKENIZER_NAME = "tokenizer_en_fr_audio_8000.model"
# config.json keys that are not LMModel kwargs (moshi's CheckpointInfo pops these).
_NOT_KWARGS = ("moshi_name", "mimi_name", "mimi_config_name", "tokenizer_name", "lora_name",
               "model_type", "lm_gen_config", "tts_config", "stt_config", "model_id")


@dataclass(frozen=True)
class SttFiles:
    root: Path
    config: dict

    @property
    def lm(self) -> Path:
        return self.root / self.config.get("moshi_name", LM_NAME)

    @property
    def mimi(self) -> Path:
        return self.root / self.config.get("mimi_name", MIMI_NAME)

    @property
    def tokenizer(self) -> Path:
        return self.root / self.config.get("tokenizer_name", TOKENIZER_NAME)

    @property
    def delay_seconds(self) -> float:
        """How far the text stream runs behind the audio."""
        return float(self.config["stt_config"].get("audio_delay_seconds", 0.0))

    @property
    def prefix_seconds(self) -> float:
        """Silence the model expects before the audio starts."""
        return float(self.config["stt_config"].get("audio_silence_prefix_seconds", 0.0))


def find_installed(cache_dir: str | os.PathLike | None = None) -> Path | None:
    """The downloaded speech-to-text model's folder in the Hugging Face cache, if any."""
    from .download import STT_REPO_ID, find_cached_model

    return find_cached_model(STT_REPO_ID, cache_dir)


def locate(stt_dir: str | os.PathLike) -> SttFiles:
    """The checkpoint in `stt_dir`, checked as far as it can be without reading weights."""
    root = Path(stt_dir).expanduser()
    if not root.is_dir():
        raise ModelNotFoundError(
            f"The speech-to-text model folder {root} does not exist.",
            "Pass the folder that holds Kyutai's stt-1b-en_fr, or run "
            "`arcus-desktop download --stt`.")
    path = root / "config.json"
    if not path.is_file():
        raise ModelNotFoundError(
            f"The speech-to-text model folder {root} has no config.json.", HINT)
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise CorruptFileError("The speech-to-text model's config.json cannot be read.",
                               HINT, str(path)) from e
    if not isinstance(config, dict) or config.get("model_type") != "stt" \
            or not isinstance(config.get("stt_config"), dict):
        raise CheckpointShapeError(
            f"{root} does not hold a speech-to-text model (its config.json is not an "
            "\"stt\" model's).", HINT)
    files = SttFiles(root, config)
    missing = [p.name for p in (files.lm, files.mimi, files.tokenizer) if not p.is_file()]
    if missing:
        raise ModelNotFoundError(
            f"The speech-to-text model folder {root} is incomplete: {', '.join(missing)} missing.",
            HINT)
    return files


def lm_kwargs(config: dict, header: dict) -> dict:
    """moshi LMModel kwargs from config.json, checked against the weights' header."""
    kwargs = {k: v for k, v in config.items() if k not in _NOT_KWARGS}
    kwargs.pop("depformer_causal", None)  # deprecated in moshi
    if kwargs.pop("conditioners", None) or kwargs.get("fuser") or kwargs.get("lora") \
            or kwargs.pop("demux_second_stream", False):
        raise CheckpointShapeError(
            "This speech-to-text model needs conditioning or adapters that Arcus does not "
            "support.", "Use kyutai/stt-1b-en_fr.")
    for key in ("fuser", "lora", "lora_rank", "lora_scaling"):
        kwargs.pop(key, None)
    try:
        dim, n_q, card, text_card = (int(kwargs[k]) for k in ("dim", "n_q", "card", "text_card"))
        dep_q, delays, layers = int(kwargs["dep_q"]), list(kwargs["delays"]), int(kwargs["num_layers"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointShapeError(f"The speech-to-text config.json lacks {e}.", HINT) from e
    if dep_q != 0 or any(delays) or len(delays) != n_q + 1:
        raise CheckpointShapeError(
            "The speech-to-text model predicts audio or delays its streams; Arcus runs "
            "text-only models whose streams are not delayed.", "Use kyutai/stt-1b-en_fr.")
    expected = {"text_emb.weight": [text_card + 1, dim], "text_linear.weight": [text_card, dim]}
    expected.update({f"emb.{k}.weight": [card + 1, dim] for k in range(n_q)})
    for name, want in expected.items():
        got = header.get(name, (None, None))[1]
        if got != want:
            raise CheckpointShapeError(
                f"The speech-to-text weights do not fit its config.json: {name} is {got}, "
                f"expected {want}.", HINT)
    found = checkpoint._count(header, r"transformer\.layers\.(\d+)\.")
    if found != layers:
        raise CheckpointShapeError(
            f"The speech-to-text weights hold {found} transformer layers, expected {layers}.", HINT)
    return kwargs
