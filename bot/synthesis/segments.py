"""What an LLM's sentence is compared with: a passage's sentences and clauses, and its own clauses
(pure).

    >>> segments("Warm models err more; cold ones less, but only on facts. Fine.")
    ['Warm models err more; cold ones less, but only on facts.', 'Fine.', 'Warm models err more', 'but only on facts.']
"""

from __future__ import annotations

import re

from ..notes.sentences import split_sentences

# A clause ends at ";", ":", a dash, a comma or a parenthesis: a paraphrase of one clause of a long
# sentence is closer to that clause than to the sentence.
_CLAUSE_BREAK = re.compile(r"\s*(?:;|:\s|\s[—–-]\s|—|,\s+|\s\(|\)(?=\s))\s*")
MIN_CLAUSE_WORDS = 4


def claim_clauses(text: str) -> list[str]:
    """The clauses of one of the LLM's sentences (at least three words each; none when it has one)."""
    parts = [p.strip(" .") for p in _CLAUSE_BREAK.split(text)]
    parts = [p for p in parts if len(p.split()) >= 3]
    return parts if len(parts) > 1 else []


def sentences_and_clauses(text: str) -> tuple[list[str], list[str]]:
    """What a sentence is compared with: the sentences of `text`, and the clauses of those that have
    several (at least MIN_CLAUSE_WORDS words each)."""

    sentences: list[str] = []
    clauses: list[str] = []
    for start, end in split_sentences(text):
        sentence = text[start:end].strip()
        if not sentence:
            continue
        sentences.append(sentence)
        parts = [c for c in _CLAUSE_BREAK.split(sentence) if len(c.split()) >= MIN_CLAUSE_WORDS]
        if len(parts) > 1:
            clauses.extend(parts)
    return sentences, clauses


def segments(text: str) -> list[str]:
    """Every sentence of `text` and then every clause: all a sentence may be compared with."""
    sentences, clauses = sentences_and_clauses(text)
    return sentences + clauses
