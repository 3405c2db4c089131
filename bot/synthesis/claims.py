"""What an LLM's answer claims, read sentence by sentence (pure): its citations, whether it
abstains, its facts (numbers, percentages, years, arXiv ids, quoted phrases) and negations.

    >>> [(c.text, c.citations) for c in split_answer("Warmth costs accuracy [1]. It also flatters [2][3].")]
    [('Warmth costs accuracy.', (1,)), ('It also flatters.', (2, 3))]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..notes.sentences import split_sentences
from .prompt import ABSTENTION


# --- citations -----------------------------------------------------------------------------------
# [1]  [1][2]  [1, 2]  [1,2]  [1; 2]  [1-3]  [1–3]  [^1]  [^1][^2]
_CITE = re.compile(r"\[\^?\s*\d+(?:\s*(?:[,;–—-]|and)\s*\^?\s*\d+)*\s*\]")
_CITES_AFTER_PUNCT = re.compile(r"([.!?…]+[\"'’”)]*)((?:\s*" + _CITE.pattern + r")+)")
_MAX_RANGE = 20
_LIST_MARKER = re.compile(r"^\s*(?:[-*+•]\s+|\d+[.)]\s+|#{1,6}\s+|>\s*)")


@dataclass(frozen=True)
class Claim:
    """One sentence of the LLM's answer: its text without citation marks, and what it cites."""

    text: str
    citations: tuple[int, ...]
    raw: str


def citation_numbers(mark: str) -> list[int]:
    """The numbers one citation mark names: "[1, 3]" -> [1, 3]; "[2–4]" -> [2, 3, 4]; "[^5]" -> [5]."""
    numbers: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", mark.strip("[]^ ")):
        bounds = [int(n) for n in re.findall(r"\d+", part)]
        if len(bounds) == 2 and re.search(r"\d\s*[–—-]\s*\^?\d", part) and 0 <= bounds[1] - bounds[0] <= _MAX_RANGE:
            numbers.extend(range(bounds[0], bounds[1] + 1))
        else:
            numbers.extend(bounds)
    return numbers


def split_answer(text: str) -> list[Claim]:
    """The answer's sentences with their citations, in order.

    Each line is split on its own (an LLM's lists and paragraphs are lines); citations written after
    a sentence's full stop ("... empathy. [1]", "... empathy.[^1]") belong to that sentence.
    """

    claims: list[Claim] = []
    for line in text.splitlines():
        line = _LIST_MARKER.sub("", line).strip()
        if not line:
            continue
        line = _CITES_AFTER_PUNCT.sub(lambda m: " " + " ".join(m.group(2).split()) + m.group(1), line)
        for start, end in split_sentences(line):
            raw = line[start:end]
            numbers: list[int] = []
            for mark in _CITE.findall(raw):
                numbers.extend(n for n in citation_numbers(mark) if n not in numbers)
            clean = _CITE.sub("", raw)
            clean = re.sub(r"\s+([.,;:!?…])", r"\1", " ".join(clean.split()))
            if clean or numbers:
                claims.append(Claim(clean, tuple(numbers), raw))
    return claims


class SentenceStream:
    """Sentences out of a stream of text deltas, each as soon as it is complete.

    A sentence is complete when the next one has begun (a citation still being written after its
    full stop keeps it open); `finish()` gives the rest. The sentences are exactly those
    `split_answer` finds in the whole text.
    """

    def __init__(self) -> None:
        self.text = ""
        self._given = 0

    def feed(self, delta: str) -> list[Claim]:
        self.text += delta
        claims = split_answer(self.text)
        ready = len(claims) - 1
        if claims and claims[-1].raw.startswith("["):  # maybe the previous sentence's citation, unfinished
            ready -= 1
        return self._take(claims, ready)

    def finish(self) -> list[Claim]:
        claims = split_answer(self.text)
        return self._take(claims, len(claims))

    def _take(self, claims: list[Claim], ready: int) -> list[Claim]:
        new = claims[self._given:max(self._given, ready)]
        self._given += len(new)
        return new


# --- abstention ----------------------------------------------------------------------------------
_ABSTAINING = re.compile(
    r"^(?:none of the (?:provided |given )?(?:notes|passages) (?:address|addresses|answer|answers|cover|covers)"
    r" (?:this|that|the question|it)"
    r"|the (?:notes|passages) do not (?:address|answer|cover) (?:this|that|the question))$"
)


def is_abstention(text: str) -> bool:
    """True for the abstention phrase, give or take case, punctuation, citations and close wording."""
    plain = " ".join(re.sub(r"[^\w\s]", " ", _CITE.sub("", text).lower()).split())
    return plain == " ".join(re.sub(r"[^\w\s]", " ", ABSTENTION.lower()).split()) or bool(_ABSTAINING.match(plain))


# --- facts: numbers, percentages, years, arXiv ids, quoted phrases -------------------------------------
_NUMBER_WORDS = {
    # "one" is left out: as a pronoun ("one of the models") it is no quantity.
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    # multiples are numbers too: "twice as often" claims a 2
    "twice": 2, "double": 2, "doubled": 2, "doubles": 2, "doubling": 2, "thrice": 3, "triple": 3,
    "tripled": 3, "triples": 3, "tripling": 3, "quadrupled": 4, "dozen": 12,
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.IGNORECASE)
_ARXIV = re.compile(r"(?<![\d.])(\d{4}\.\d{4,5})(?:v\d+)?(?![\d])")
# "percentage points" and "pp" count as percentages: a sentence may well write 10-30 points as 10-30%.
_PERCENT_UNIT = r"(?:%|percent\b|per\s+cent\b|pct\b|percentage points?\b|pp\b)"
_PERCENT = re.compile(r"(\d+(?:[.,]\d+)*)\s*" + _PERCENT_UNIT, re.IGNORECASE)
_PERCENT_RANGE = re.compile(r"(\d+(?:[.,]\d+)*)\s*-\s*(\d+(?:[.,]\d+)*)\s*(" + _PERCENT_UNIT + ")", re.IGNORECASE)
_NUMERAL = re.compile(r"\d+(?:[.,]\d+)*")
_THOUSANDS = re.compile(r"^\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_QUOTED = re.compile(r"\"([^\"\n]{2,200})\"|“([^”\n]{2,200})”|‘([^’\n]{2,200})’"
                     r"|(?<!\w)'([^'\n]{2,200}?)'(?!\w)")  # single quotes only around words, not in "models'"


@dataclass(frozen=True)
class Fact:
    kind: str  # "number", "percent", "arxiv", "quote"
    value: str  # the normalised form that is compared
    shown: str  # as the sentence wrote it

    def words(self) -> str:
        return {"number": f"the number {self.shown}", "percent": f"the number {self.shown}",
                "arxiv": f"the arXiv id {self.shown}", "quote": f'the quoted phrase "{self.shown}"'}[self.kind]


def extract_facts(text: str) -> list[Fact]:
    """The checkable facts of a text, normalised: "10–30%" and "10-30 percent" give the same facts;
    "five" and "5" the same number; "1,000" and "1000" too."""
    facts: list[Fact] = []
    for match in _QUOTED.finditer(text):
        phrase = next(g for g in match.groups() if g is not None)
        if len(plain_text(phrase)) >= 3:
            facts.append(Fact("quote", plain_text(phrase), " ".join(phrase.split())))
    rest = text
    for match in _ARXIV.finditer(rest):
        facts.append(Fact("arxiv", match.group(1), match.group(0)))
    rest = _ARXIV.sub(" ", rest)
    rest = re.sub(r"(\d)\s*[–—-]\s*(\d)", r"\1 - \2", rest)  # 10–30 and 10-30 alike
    rest = _PERCENT_RANGE.sub(r"\1% - \2%", rest)  # 10-30% is 10% to 30%
    for match in _PERCENT.finditer(rest):
        for value in _numbers(match.group(1)):
            facts.append(Fact("percent", value, f"{match.group(1)}%"))
    rest = _PERCENT.sub(" ", rest)
    for match in _NUMERAL.finditer(rest):
        for value in _numbers(match.group(0)):
            facts.append(Fact("number", value, match.group(0)))
    for match in _NUMBER_WORD.finditer(rest):
        facts.append(Fact("number", str(_NUMBER_WORDS[match.group(1).lower()]), match.group(1)))
    return facts


def _numbers(numeral: str) -> list[str]:
    """Canonical numbers in a numeral: "1,000" -> ["1000"]; "2.50" -> ["2.5"]; "1,2" -> ["1", "2"]."""
    parts = [numeral.replace(",", "")] if _THOUSANDS.match(numeral) else numeral.split(",")
    values = []
    for part in parts:
        if not part:
            continue
        if "." in part:
            whole, _, decimals = part.partition(".")
            decimals = decimals.rstrip("0")
            part = f"{int(whole or 0)}.{decimals}" if decimals else str(int(whole or 0))
        else:
            part = str(int(part))
        values.append(part)
    return values


def plain_text(text: str) -> str:
    """Lowercase words only, for comparing quoted phrases whatever their quotes, dashes and spaces."""
    return " ".join(re.findall(r"\w+", text.lower()))


# --- negation -----------------------------------------------------------------------------------
# "failed to detect" negates as surely as "did not detect".
_NEGATION = re.compile(r"\b(?:not|no|never|none|nothing|nobody|neither|nor|cannot|without|unable|"
                       r"fail(?:s|ed|ing)?|lack(?:s|ed|ing)?)\b|n[’']t\b",
                       re.IGNORECASE)


def negations(text: str) -> list[str]:
    return [m.group(0).lower() for m in _NEGATION.finditer(text)]


