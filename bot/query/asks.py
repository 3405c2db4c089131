"""What a question asks for, when it says: an answer of some shape (an arXiv id, a year), or a part
of a note (its research prompt, related concepts, original title, ...) (pure).

    >>> asked_for("What is the arXiv id of the RLVER paper?").pattern
    '\\\\barXiv:\\\\s?\\\\d{4}\\\\.\\\\d{4,5}(?:v\\\\d+)?'
    >>> asked_for("Does warmth training hurt?") is None
    True

"What is the arXiv id of X?" is answered by a line that holds an arXiv id, however much more
"Cite arXiv IDs; flag anything you cannot ground" resembles the question's words (the
embedding model reads identifiers poorly). So when a note has sentences of the asked-for shape,
its passages for that question are chosen among them, by how well they match the question's
`subject` ("RLVER paper"), not its wording (`passages.note_passages`): a line holding some
other paper's id then scores low, and the answer abstains as it should. A note without any
such sentence is quoted as usual. Only explicit wordings count ("arXiv id", "what year"),
never a bare "when", so statements (SciFact's claims) and ordinary questions are untouched.
"""

from __future__ import annotations

import re

ARXIV_ID = re.compile(r"\barXiv:\s?\d{4}\.\d{4,5}(?:v\d+)?", re.IGNORECASE)
YEAR = re.compile(r"(?<![\d.])(?:19|20)\d\d(?![\d.])")

_ASKS: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"\barxiv\b[^?.]{0,25}\b(?:ids?|identifiers?|numbers?)\b|\b(?:ids?|identifiers?)\b[^?.]{0,12}\barxiv\b",
                re.IGNORECASE), ARXIV_ID),
    (re.compile(r"\b(?:what|which)\s+years?\b|\byears?\s+(?:is|are|was|were|do|does|did)\b|\bdated\b",
                re.IGNORECASE), YEAR),
)


_SHAPE_WORDS = re.compile(
    r"\b(?:arxiv|ids?|identifiers?|numbers?|what|which|years?|dated|is|are|was|were|do|does|did|the|of|from|"
    r"in|to|and|it|its|a|an|has|have|had|papers?|articles?|study|studies)\b|[?,]", re.IGNORECASE)


def subject(question: str) -> str:
    """What a shaped question asks about, without the words that ask for the shape: a line holding
    an arXiv id answers "What is the arXiv id of the RLVER paper?" when it is about "RLVER paper".

        >>> subject("What is the arXiv id of the RLVER paper?")
        'RLVER'
    """
    return " ".join(_SHAPE_WORDS.sub(" ", question).split()) or question


# A question that names a part of a seed page ("the research prompt", "its related concepts")
# is answered from that part of a note that has it.
_SECTIONS: tuple[tuple[re.Pattern[str], tuple[str, ...]], ...] = (
    (re.compile(r"\bresearch prompt\b|\banchor papers?\b", re.IGNORECASE), ("research_prompt",)),
    (re.compile(r"\brelated concepts?\b", re.IGNORECASE), ("related_concepts",)),
    (re.compile(r"\brelated papers?\b", re.IGNORECASE), ("related_papers",)),
    (re.compile(r"\bnext inquiring lines?\b", re.IGNORECASE), ("next_inquiring_lines",)),
    (re.compile(r"\binquiring lines?\b", re.IGNORECASE), ("inquiring_lines", "next_inquiring_lines")),
    (re.compile(r"\boriginal (?:note )?title\b", re.IGNORECASE), ("original_title",)),
    (re.compile(r"\b(?:which|what|its|their|the|list(?: of)?) sources\b|\bsources (?:does|do|did)\b", re.IGNORECASE),
     ("sources",)),
)


def asked_section(question: str) -> tuple[str, ...]:
    """The seed-page sections (`Section.name`) a question names, if any.

        >>> asked_section("What years do the findings in the research prompt span?")
        ('research_prompt',)
        >>> asked_section("Which inquiring lines use the scaffolds note as a source?")
        ('inquiring_lines', 'next_inquiring_lines')
    """
    for names, sections in _SECTIONS:
        if names.search(question):
            return sections
    return ()


def asked_for(question: str) -> re.Pattern[str] | None:
    """The pattern an answer to `question` must hold, or None when the question asks for no shape."""
    for asks, shape in _ASKS:
        if asks.search(question):
            return shape
    return None
