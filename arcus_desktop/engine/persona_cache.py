"""Prepared persona states kept in memory, so starting a known persona skips its prefill."""

from __future__ import annotations

from collections import OrderedDict

from .generator import PersonaState

DEFAULT_BUDGET = 512 * 2**20  # about three 7B personas (~177 MB each)


class PersonaCache:
    """States by persona key; the least recently used go first beyond a byte budget."""

    def __init__(self, max_bytes: int = DEFAULT_BUDGET) -> None:
        self.max_bytes = max_bytes
        self._states: OrderedDict[str, PersonaState] = OrderedDict()

    def get(self, key: str) -> PersonaState | None:
        state = self._states.get(key)
        if state is not None:
            self._states.move_to_end(key)
        return state

    def put(self, key: str, state: PersonaState) -> None:
        if state.nbytes > self.max_bytes:
            return
        self._states[key] = state
        self._states.move_to_end(key)
        while sum(s.nbytes for s in self._states.values()) > self.max_bytes:
            self._states.popitem(last=False)

    def clear(self) -> None:
        self._states.clear()

    def __len__(self) -> int:
        return len(self._states)
