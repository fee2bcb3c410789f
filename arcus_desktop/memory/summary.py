"""An extractive summary of a conversation: there is no language model to write one, so
it picks the sentences that carry the conversation's most frequent content words."""

from __future__ import annotations

import re
from collections import Counter

from .store import STOPWORDS

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_WORD = re.compile(r"[a-z0-9']+")


def _content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 2]


def summarize(turns: list[tuple[str, str]], sentences: int = 3, max_words: int = 60) -> str:
    """turns: (speaker, text) in order. The best `sentences`, in their original order,
    user sentences preferred (they say what the conversation was about)."""
    candidates = []
    for speaker, text in turns:
        for s in _SENTENCE.split(text.strip()):
            words = _content_words(s)
            if len(words) >= 2:
                candidates.append((speaker, s.strip(), words))
    if not candidates:
        return ""
    freq = Counter(w for _, _, words in candidates for w in set(words))
    scored = []
    for i, (speaker, s, words) in enumerate(candidates):
        score = sum(freq[w] for w in set(words)) / (len(set(words)) ** 0.5)
        scored.append((score * (1.3 if speaker == "user" else 1.0), i))
    chosen = sorted(i for _, i in sorted(scored, reverse=True)[:sentences])
    out, count = [], 0
    for i in chosen:
        speaker, s, _ = candidates[i]
        n = len(s.split())
        if count + n > max_words and out:
            break
        out.append(s if s[-1] in ".!?" else s + ".")
        count += n
    return " ".join(out)


def title(turns: list[tuple[str, str]], words: int = 4) -> str:
    """A few of the conversation's most frequent content words, as a short title."""
    freq = Counter(w for _, text in turns for w in _content_words(text))
    return " ".join(w for w, _ in freq.most_common(words)).capitalize()
