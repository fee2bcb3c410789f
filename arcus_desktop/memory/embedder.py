"""Sentence embeddings behind a small interface, so a stronger model can replace the
default without touching the store."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from ..core.errors import ArcusError


class Embedder(Protocol):
    name: str  # stored with every vector: a different name means re-embedding
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray:
        """(len(texts), dim) float32, unit length."""


class WordLlamaEmbedder:
    """wordllama's weights ship inside its wheel, so this works fully offline. Its plain
    `load()` looks for them in a user cache and then tries to download: point it at the
    package folder and forbid downloads instead."""

    def __init__(self, dim: int = 256) -> None:
        from pathlib import Path

        import wordllama

        self._model = wordllama.WordLlama.load(
            cache_dir=Path(wordllama.__file__).parent, disable_download=True,
            trunc_dim=None if dim == 256 else dim)
        self.dim = dim
        self.name = f"wordllama-l2_supercat-{dim}"

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        vecs = np.asarray(self._model.embed(list(texts), norm=True), dtype=np.float32)
        return vecs.reshape(len(texts), self.dim)


class EmbedderUnavailable(ArcusError):
    pass


DEFAULT_MODEL = "wordllama-256"


def load_embedder(name: str = DEFAULT_MODEL) -> Embedder:
    """The configured model by name: `wordllama-256`, or a shorter `wordllama-128`/`-64`."""
    kind, _, size = name.partition("-")
    if kind != "wordllama" or size not in ("64", "128", "256"):
        raise EmbedderUnavailable(f"Unknown embedding model '{name}'.",
                                  f"Choose {DEFAULT_MODEL} in the memory settings.")
    try:
        return WordLlamaEmbedder(int(size))
    except Exception as e:  # missing package or weights: keyword recall still works
        raise EmbedderUnavailable(
            f"The embedding model {name} could not be loaded ({type(e).__name__}: {e}).",
            "Memories are still found by their words; reinstall Arcus Desktop to restore "
            "meaning-based recall.") from e
