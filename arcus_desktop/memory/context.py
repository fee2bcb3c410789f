"""The persona prompt with memories in it: the base role, then the relevant facts, then a
style note from the user's preferences, all within the token budget counted with the
model's own tokenizer. Memory text is cleaned so it can never close the <system> wrapper."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

from ..core.system_tag import clean, wrap
from .recall import Hit, recall
from .store import Memory, MemoryStore

FACTS_INTRO = "What you remember from earlier conversations:"
STYLE_INTRO = "How the user likes you to talk:"


@dataclass
class PersonaContext:
    text: str  # role text with memories; the engine wraps and tokenizes it again
    tokens: int  # of the wrapped text
    budget: int
    facts: list[Memory] = field(default_factory=list)
    style: list[Memory] = field(default_factory=list)
    left_out: list[Memory] = field(default_factory=list)  # recalled, but no room left
    why: dict[str, str] = field(default_factory=dict)  # memory id -> why it was chosen

    def explain(self, ids: bool = True) -> list[str]:
        """One line per memory in the prompt (then those left out): why it was chosen and
        (with `ids`) its id, so the user can pin or delete the wrong ones."""
        lines = []
        for label, group in (("fact", self.facts), ("style", self.style),
                             ("left out", self.left_out)):
            for m in group:
                text = clean(m.content)
                text = text if len(text) <= 70 else text[:69] + "…"
                why = self.why.get(m.id, "chosen") + (f"; id {m.id}" if ids else "")
                lines.append(f"{label}: “{text}” ({why})")
        return lines


def _line(m: Memory) -> str:
    text = clean(m.content).rstrip(".")
    if m.kind == "episodic" and m.speaker:
        who = "The user" if m.speaker == "user" else "You"
        day = time.strftime("%b %d", time.localtime(m.occurred_at))
        return f"{who} said on {day}: {text}."
    if m.kind == "procedural":  # kept in the user's words: "I prefer short answers"
        return f"They told you: {text}."
    return f"{text}."


def compose(base: str, facts: list[Memory], style: list[Memory]) -> str:
    parts = [clean(base)]
    if facts:
        parts.append(" ".join([FACTS_INTRO, *map(_line, facts)]))
    if style:
        parts.append(" ".join([STYLE_INTRO, *map(_line, style)]))
    return " ".join(p for p in parts if p)


def build(base: str, facts: list[Memory], style: list[Memory], tokenizer,
          budget: int, why: dict[str, str] | None = None) -> PersonaContext:
    """Fit what fits: style notes first (short, and they shape every answer), then facts
    in recall order. A fact too long for the room left is clipped to its first words
    (at least MIN_WORDS); whatever still does not fit is reported in `left_out`."""

    def count(fs, ss) -> int:
        return len(tokenizer.encode(wrap(compose(base, fs, ss))))

    kept_style: list[Memory] = []
    kept_facts: list[Memory] = []
    left: list[Memory] = []
    for m in style:
        (kept_style.append(m) if count(kept_facts, kept_style + [m]) <= budget else left.append(m))
    for m in facts:
        if count(kept_facts + [m], kept_style) <= budget:
            kept_facts.append(m)
        elif (clipped := _clip(m, lambda c: count(kept_facts + [c], kept_style) <= budget)):
            kept_facts.append(clipped)
        else:
            left.append(m)
    text = compose(base, kept_facts, kept_style)
    return PersonaContext(text, count(kept_facts, kept_style), budget, kept_facts, kept_style, left,
                          why or {})


MIN_WORDS = 5


def _clip(m: Memory, fits) -> Memory | None:
    """The memory cut to the most leading words that fit, marked with an ellipsis."""
    words = clean(m.content).split()
    lo, hi = 0, len(words) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(replace(m, content=" ".join(words[:mid]) + " …")):
            lo = mid
        else:
            hi = mid - 1
    return replace(m, content=" ".join(words[:lo]) + " …") if lo >= MIN_WORDS else None


def _team_memory(text: str) -> Memory:
    """A shared memory from the team, shaped like a local fact for the prompt."""
    return Memory(id="team", kind="semantic", content=text, speaker=None, conversation_id=None,
                  audio_path=None, audio_offset=None, audio_duration=None, importance=0.5,
                  pinned=False, source="team", embedding_model=None, occurred_at=0.0,
                  created_at=0.0, updated_at=0.0, version=1, shared=True)


def topic_of_last_session(store: MemoryStore) -> str:
    for conv in store.conversations(limit=5):
        summaries = [m for m in store.conversation_memories(conv.id) if m.source == "summary"]
        if summaries:
            return summaries[-1].content
        if conv.title:
            return conv.title
    return ""


def for_topic(store: MemoryStore, base: str, tokenizer, budget: int = 200,
              topic: str = "", items: int = 5, styles: int = 2,
              team: Callable[[str, int], list[str]] | None = None) -> PersonaContext:
    """The persona text for a new conversation. The topic is what the user set or said;
    without one, the last session's summary stands in. Pinned facts always come first.
    `team(topic, k)`, when given (team recall is on), adds the team's shared memories
    that the local ones do not already say, after them."""
    topic = topic.strip() or topic_of_last_session(store)
    pinned = [m for m in store.list(kinds=["semantic"], limit=items) if m.pinned]
    hits = recall(store, topic, k=items, kinds=["semantic", "episodic"])
    facts = (pinned + [h.memory for h in hits if h.memory.id not in {p.id for p in pinned}])[:items]
    why = {m.id: f"pinned; {_day(m)}" for m in pinned}
    for h in hits:
        why.setdefault(h.memory.id, reason(h))
    if team is not None and topic:
        known = {clean(m.content).lower() for m in facts}
        for text in team(topic, items):
            if clean(text).lower() not in known and len(facts) < items + 2:
                facts.append(_team_memory(text))
                why["team"] = "shared by your team"
    style = sorted(store.list(kinds=["procedural"], limit=20),
                   key=lambda m: (m.pinned, m.importance, m.updated_at), reverse=True)[:styles]
    for m in style:
        why[m.id] = ("pinned preference" if m.pinned else "preference") + f"; {_day(m)}"
    return build(base, facts, style, tokenizer, budget, why)


def reason(hit: Hit) -> str:
    """Why recall chose a memory: its place in the keyword (BM25) and meaning (vector)
    lists, pinning, and when it was said."""
    parts = ["pinned"] if hit.memory.pinned else []
    if hit.keyword_rank is not None:
        parts.append(f"words #{hit.keyword_rank}")
    if hit.vector_rank is not None:
        parts.append(f"meaning #{hit.vector_rank}")
    return "; ".join(parts + [_day(hit.memory)])


def _day(m: Memory) -> str:
    verb = "said" if m.kind == "episodic" else "saved"
    return f"{verb} {time.strftime('%d %b %Y', time.localtime(m.occurred_at))}"
