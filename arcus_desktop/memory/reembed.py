"""Re-embedding after the embedding model changes, off the caller's thread, on its own
connection (SQLite in WAL mode lets the app keep reading and writing meanwhile)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable

from .embedder import Embedder
from .store import MemoryStore


class Reembedder(threading.Thread):
    def __init__(self, path: Path, embedder: Embedder, batch: int = 256,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        super().__init__(name="memory-reembed", daemon=True)
        self.path, self.embedder, self.batch = path, embedder, batch
        self.on_progress = on_progress
        self.done_count = 0
        self.error: Exception | None = None
        self._cancel = threading.Event()

    def run(self) -> None:
        store = None
        try:
            store = MemoryStore(self.path, embedder=self.embedder)
            total = store.pending_embeddings()
            while not self._cancel.is_set():
                n = store.embed_pending(self.batch)
                if not n:
                    break
                self.done_count += n
                if self.on_progress:
                    self.on_progress(self.done_count, total)
        except Exception as e:  # reported to whoever started it; keyword recall goes on
            self.error = e
        finally:
            if store is not None:
                store.close()

    def stop(self) -> None:
        self._cancel.set()


def change_model(store: MemoryStore, embedder: Embedder, **kwargs) -> Reembedder:
    """Switch `store` to `embedder` now and refill the vectors in the background."""
    store.set_embedder(embedder)
    worker = Reembedder(store.path, embedder, **kwargs)
    worker.start()
    return worker
