"""Check an LLM's answer sentence by sentence against the passages each sentence cites (pure).

    >>> result = verify("Warm models were 10–30% less reliable [1]. They were 42% faster [1].",
    ...                 [Passage(1, "Warmth-trained models were 10-30% less reliable than the originals.")],
    ...                 embed)                                                   # doctest: +SKIP
    >>> [s.text for s in result.kept]                                            # doctest: +SKIP
    ['Warm models were 10–30% less reliable.']
    >>> [d.reason for d in result.dropped]                                       # doctest: +SKIP
    ['the number 42% is in none of the cited passages']

A sentence is kept only when all of these hold, in this order (the first failure is its reason):

    check       the sentence ...
    citation    cites at least one passage, and only passages that exist
    fact        has every number, percentage, year, arXiv id and "quoted phrase" in a cited passage
    fact        ... and every name (a capitalised word inside the sentence) as written
    coverage    has at least `min_coverage` of its content terms (stemmed, function words and words
                about the notes dropped; its checked numbers count as found) in them or their titles
    similarity  has an embedding within `min_similarity` cosine of some sentence of a cited passage
                (unless it quotes an arXiv id or a phrase found there verbatim, or is half numbers)
    negation    says neither more nor less than what it paraphrases: no negation ("not", "failed",
                "non-", "rather than") or antonym ("more" for "fewer") that reverses the segment of a
                cited passage sharing the most of its terms and the segment closest by embedding
                (see lexicon.reversal; also clause by clause, for swapped roles)

The abstention phrase (prompt.ABSTENTION) is recognised as such, neither kept nor dropped.
Everything here is pure: `embed(texts) -> np.ndarray` of L2-normalised rows is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ..models import AnswerSentence, DroppedSentence
from .claims import Claim, SentenceStream, is_abstention, Fact, extract_facts, plain_text
from .lexicon import MIN_SHARED, Reading, content_terms, covered, names, prefixes, read, reversal
from .prompt import Passage
from .segments import claim_clauses, sentences_and_clauses, segments  # noqa: F401  (segments: public)

Embed = Callable[[list[str]], np.ndarray]
Checked = AnswerSentence | DroppedSentence

# --- thresholds: calibrated by bench/synthesis_verifier.py -----------------------------------------
# A grid search on the tuning half (odd-numbered cases) of bench/synthesis_cases.yaml: 42 answers
# to seed questions, 109 paraphrases a person wrote and 134 injected errors, replayed over HTTP
# through the scripted OpenAI-compatible server. Chosen for the highest lower of the two rates
# (kept faithful, dropped errors): 90.6% and 91.2% there; on the held-out half 92.9% and 90.9%.
#
# Share of a sentence's content terms (and its numbers) found in its cited passages and their
# note's title. Claims lifted from a passage that was not cited mostly ran below 0.4.
MIN_COVERAGE = 0.4
# Cosine (all-MiniLM-L6-v2) between a sentence and its closest segment (a sentence or clause) of a
# cited passage. SciFact agrees: at 0.40, 94.6% of the training claims are this close to one of
# their gold rationale sentences, and 0.7% of random sentences of other abstracts are (0.45: 90.0%
# and 0.2%). It does not tell "more" from "fewer": that is the polarity check's work.
MIN_SIMILARITY = 0.4
# The polarity check (lexicon.reversal) acts on a negation beside at least MIN_SHARED (1, from the
# same grid; 2 kept no more paraphrases and caught fewer reversals) of the terms the sentence and
# the segment it paraphrases share.

# --- the verifier --------------------------------------------------------------------------------------
@dataclass
class Verification:
    """The checked answer: every sentence in order, kept or dropped, and whether the LLM abstained."""

    checked: list[Checked] = field(default_factory=list)
    abstained: bool = False

    @property
    def kept(self) -> list[AnswerSentence]:
        return [c for c in self.checked if isinstance(c, AnswerSentence)]

    @property
    def dropped(self) -> list[DroppedSentence]:
        return [c for c in self.checked if isinstance(c, DroppedSentence)]


@dataclass
class _Cited:
    """What the checks need of one passage number (several passages may share it: one note's quotes)."""

    text: str
    terms: set[str]  # of the passage and its note's title (the LLM reads both)
    facts: set[tuple[str, str]]
    plain: str
    sentences: list[str]
    clauses: list[str]
    sentence_vectors: np.ndarray | None = None
    clause_vectors: np.ndarray | None = None
    term_prefixes: set[str] = field(default_factory=set)
    segment_terms: dict[str, set[str]] = field(default_factory=dict)

    @property
    def segments(self) -> list[str]:
        return self.sentences + self.clauses

    def terms_of(self, segment: str) -> set[str]:
        if segment not in self.segment_terms:
            self.segment_terms[segment] = content_terms(segment)
        return self.segment_terms[segment]


class Verifier:
    """Checks sentences against one answer's passages; feed it the LLM's stream or a whole text.

        verifier = Verifier(passages, embedder.encode)
        for delta in client.stream(messages):
            for checked in verifier.feed(delta):   # AnswerSentence or DroppedSentence, in order
                ...
        verifier.finish(); verifier.result         # Verification
    """

    def __init__(self, passages: Sequence[Passage], embed: Embed, *, min_coverage: float = MIN_COVERAGE,
                 min_similarity: float = MIN_SIMILARITY, min_shared: int = MIN_SHARED,
                 check_negation: bool = True, embed_passages: Embed | None = None) -> None:
        self.embed = embed
        # the passages' own text (their clauses) may go through a cache; the LLM's sentences never do
        self.embed_passages = embed_passages or embed
        self.min_coverage = min_coverage
        self.min_similarity = min_similarity
        self.min_shared = min_shared
        self.check_negation = check_negation
        self._passages: dict[int, list[Passage]] = {}
        for passage in passages:
            self._passages.setdefault(passage.number, []).append(passage)
        self._cited_cache: dict[int, _Cited] = {}
        self._readings: dict[tuple[int, ...], Reading] = {}
        self._stream = SentenceStream()
        self.result = Verification()

    # --- feeding ----------------------------------------------------------------------------

    def feed(self, delta: str) -> list[Checked]:
        """The sentences that `delta` completed, checked."""
        return self._check_all(self._stream.feed(delta))

    def finish(self, delta: str = "") -> list[Checked]:
        """The last sentences (with `delta`, the stream's last piece), checked in one go; `result`
        is then complete."""
        claims = self._stream.feed(delta) if delta else []
        return self._check_all(claims + self._stream.finish())

    def _check_all(self, claims: list[Claim]) -> list[Checked]:
        claims = [c for c in claims if not self._abstains(c)]
        vectors = self._embed_for(claims)
        checked = [self.check(claim, vector) for claim, vector in zip(claims, vectors)]
        self.result.checked.extend(checked)
        return checked

    def _abstains(self, claim: Claim) -> bool:
        if is_abstention(claim.text):
            self.result.abstained = True
            return True
        return False

    def prepare(self) -> None:
        """Embed every passage's sentences now, in one call, rather than when a sentence first cites
        it: worth calling while the LLM is still writing."""
        self._embed_for([], numbers=list(self._passages))

    def _embed_for(self, claims: list[Claim], numbers: Iterable[int] = ()) -> list[np.ndarray | None]:
        """In one embedding call: the claims that reach the similarity check, and the sentences of
        the passages they cite (and of `numbers`) that have no vectors yet."""
        wanted = [i for i, c in enumerate(claims) if self._precheck(c) is None]
        needed = {n for i in wanted for n in claims[i].citations} | set(numbers)
        unembedded = [self._cited(n) for n in sorted(needed) if n in self._passages]
        unembedded = [c for c in unembedded if c.sentence_vectors is None]
        texts = [claims[i].text for i in wanted] + [t for c in unembedded for t in c.sentences]
        vectors: list[np.ndarray | None] = [None] * len(claims)
        if not texts:
            return vectors
        rows = self._embed(texts)
        for i, row in zip(wanted, rows):
            vectors[i] = row
        at = len(wanted)
        for cited in unembedded:
            cited.sentence_vectors = rows[at:at + len(cited.sentences)]
            at += len(cited.sentences)
        return vectors

    def _embed_clauses(self, numbers: Iterable[int]) -> None:
        """The clauses of these passages' long sentences, embedded in one call when first needed."""
        pending = [self._cited(n) for n in numbers]
        pending = [c for c in pending if c.clause_vectors is None]
        texts = [t for c in pending for t in c.clauses]
        rows = (np.asarray(self.embed_passages(texts), dtype=np.float32).reshape(len(texts), -1) if texts
                else np.zeros((0, 0), dtype=np.float32))
        at = 0
        for cited in pending:
            cited.clause_vectors = rows[at:at + len(cited.clauses)]
            at += len(cited.clauses)

    def _embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.embed(texts), dtype=np.float32).reshape(len(texts), -1)

    # --- the checks -------------------------------------------------------------------------

    def check(self, claim: Claim, vector: np.ndarray | None = None) -> Checked:
        """Kept or dropped with its reason (`vector`: the claim's embedding, computed when absent)."""
        failure = self._precheck(claim)
        if failure is None:
            if vector is None:
                vector = self._embed_for([claim])[0]
            failure = self._meaning(claim, vector)
        if failure is None:
            return AnswerSentence(text=claim.text, citations=list(claim.citations))
        check, reason = failure
        return DroppedSentence(text=claim.text, citations=list(claim.citations), reason=reason, check=check)

    def _precheck(self, claim: Claim) -> tuple[str, str] | None:
        """The checks that need no embedding: citations, facts, coverage."""
        if not claim.citations:
            return "citation", "no citation"
        missing = [n for n in claim.citations if n not in self._passages]
        if missing:
            marks = "".join(f"[{n}]" for n in missing)
            numbers = ", ".join(str(n) for n in missing)
            return "citation", (f"cites {marks}, but there is no passage {numbers}" if len(missing) == 1
                                else f"cites {marks}, but there are no passages {numbers}")
        cited = [self._cited(n) for n in claim.citations]
        marks = "".join(f"[{n}]" for n in claim.citations)
        for fact in extract_facts(claim.text):
            if not any(_has_fact(c, fact) for c in cited):
                return "fact", f"{fact.words()} is in none of the cited passages"
        known = set().union(*(c.terms for c in cited))
        known_prefixes = set().union(*(c.term_prefixes for c in cited))
        for name in names(claim.text):  # a name must be there as written, not merely begin alike
            if not content_terms(name) <= known:
                return "fact", f'the name "{name}" is in none of the cited passages'
        terms = content_terms(claim.text)
        facts = extract_facts(claim.text)  # all found above: each counts as a covered term
        if not terms and not facts:
            return "empty", f"has no words that {marks} could confirm"
        coverage = (sum(covered(t, known, known_prefixes) for t in terms) + len(facts)) / (len(terms) + len(facts))
        if coverage < self.min_coverage:
            shown = ", ".join(f'"{w}"' for w in _words_missing(claim.text, known, known_prefixes)[:4])
            return "coverage", (f"not supported by {marks}: too few of its words appear there "
                                f"({coverage:.0%}; missing {shown})")
        return None

    def _meaning(self, claim: Claim, vector: np.ndarray) -> tuple[str, str] | None:
        """The checks on the embedding: closeness to a cited sentence or clause, then polarity.

        Sentences first (their vectors are cheap: one batch, often cached since ingest); the clauses
        of long sentences only when no sentence is close enough."""
        marks = "".join(f"[{n}]" for n in claim.citations)
        scored = self._scored(claim, vector, clauses=False)
        if not scored or scored[0][0] < self.min_similarity:
            self._embed_clauses(claim.citations)
            scored = self._scored(claim, vector, clauses=True)
        if not scored:
            return "similarity", f"not supported by {marks}: the passage has no sentences to compare"
        best = scored[0][0]
        # An arXiv id or a quoted phrase found verbatim in the passage pins down what the sentence
        # speaks of better than an embedding of a sentence that is mostly that id or quote.
        # So do its numbers, when they are half of what it says ("The prompt dates that finding to 2023").
        facts = extract_facts(claim.text)
        anchored = any(f.kind in ("arxiv", "quote") for f in facts) or (
            facts and len(facts) >= len(content_terms(claim.text)))
        if best < self.min_similarity and not anchored:
            return "similarity", (f"not supported by {marks}: no sentence there says this "
                                  f"(closest similarity {best:.2f}, needs {self.min_similarity:.2f})")
        if self.check_negation:
            reversal = self._reversal(claim, scored[0][1])
            if reversal is not None:
                return "negation", f"not supported by {marks}: {reversal}"
        return None

    def _reversal(self, claim: Claim, closest: str) -> str | None:
        """Whether the sentence, or one of its clauses, says the opposite of what it paraphrases: a
        negation ("not", "failed", "non-") one side has and the other lacks, or an antonym ("more"
        where the passage says "fewer"). What it paraphrases is the segment (sentence or clause) of
        the cited passages sharing the most of its terms, and for the whole sentence also the one
        closest by embedding; it counts as reversed only when it reverses every one of them."""
        segments = [seg for n in claim.citations for seg in self._cited(n).segments]
        units = [claim.text] + [c for c in claim_clauses(claim.text) if c != claim.text]
        for unit in units:
            terms = content_terms(unit)
            if not terms:
                continue
            candidates = [self._best_by_terms(claim, terms, segments)]
            if unit is claim.text:
                candidates.append(closest)
            reading = self._reading(claim)
            whole = None if unit is claim.text else claim.text
            found = [reversal(unit, segment, reading, self.min_shared, whole=whole) for segment in candidates if segment]
            if found and all(found):
                return found[0]
        return None

    def _reading(self, claim: Claim) -> Reading:
        """The polarity reading of the passages the claim cites, together."""
        key = tuple(sorted(set(claim.citations)))
        if key not in self._readings:
            self._readings[key] = read("\n".join(self._cited(n).text for n in key))
        return self._readings[key]

    def _best_by_terms(self, claim: Claim, terms: set[str], segments: list[str]) -> str | None:
        """The segment sharing the most terms with `terms`; among equals, the shortest."""
        cited = [self._cited(n) for n in claim.citations]
        best, best_key = None, None
        for segment in segments:
            seg_terms = cited[0].terms_of(segment)
            key = (len(terms & seg_terms), -len(segment))
            if best_key is None or key > best_key:
                best, best_key = segment, key
        return best if best_key and best_key[0] > 0 else None

    def _scored(self, claim: Claim, vector: np.ndarray, *, clauses: bool) -> list[tuple[float, str]]:
        """(cosine, segment) for the cited passages' sentences (and clauses), best first."""
        scored: list[tuple[float, str]] = []
        for n in claim.citations:
            cited = self._cited(n)
            pairs = [(cited.sentence_vectors, cited.sentences)]
            if clauses:
                pairs.append((cited.clause_vectors, cited.clauses))
            for matrix, texts in pairs:
                if matrix is not None and len(texts):
                    scored.extend(zip((matrix @ vector).tolist(), texts))
        return sorted(scored, key=lambda pair: -pair[0])

    def _cited(self, number: int) -> _Cited:
        """The passage(s) numbered `number`, prepared once: terms, facts, sentences and clauses to
        compare with (their vectors come when first needed)."""
        if number in self._cited_cache:
            return self._cited_cache[number]
        passages = self._passages[number]
        text = "\n".join(p.text for p in passages)
        vectors = None
        if all(p.vectors is not None and len(p.sentences) == len(p.vectors) for p in passages):
            sentences = [s for p in passages for s in p.sentences]  # as the index has them
            clauses = [c for s in sentences for c in sentences_and_clauses(s)[1]]
            vectors = np.vstack([np.asarray(p.vectors, dtype=np.float32) for p in passages])
        else:
            sentences, clauses = sentences_and_clauses(text)
        titles = " ".join(dict.fromkeys(p.title for p in passages if p.title))
        terms = content_terms(text) | content_terms(titles)
        cited = _Cited(text=text, terms=terms, facts={(f.kind, f.value) for f in extract_facts(text)},
                       plain=plain_text(text), sentences=sentences, clauses=clauses, sentence_vectors=vectors,
                       term_prefixes=prefixes(terms))
        self._cited_cache[number] = cited
        return cited


def verify(text: str, passages: Sequence[Passage], embed: Embed, *, min_coverage: float = MIN_COVERAGE,
           min_similarity: float = MIN_SIMILARITY, min_shared: int = MIN_SHARED,
           check_negation: bool = True) -> Verification:
    """Every sentence of a whole answer, checked (see the module docstring)."""
    verifier = Verifier(passages, embed, min_coverage=min_coverage, min_similarity=min_similarity,
                        min_shared=min_shared, check_negation=check_negation)
    verifier.prepare()
    verifier.feed(text)
    verifier.finish()
    return verifier.result


def _has_fact(cited: _Cited, fact: Fact) -> bool:
    if fact.kind == "quote":
        return fact.value in cited.plain
    if fact.kind == "number":  # "42" is backed by a passage's 42 or 42%
        return ("number", fact.value) in cited.facts or ("percent", fact.value) in cited.facts
    return (fact.kind, fact.value) in cited.facts


def _words_missing(text: str, known: set[str], known_prefixes: set[str]) -> list[str]:
    """The sentence's own words whose stems the passages lack, in order, once each."""
    missing: list[str] = []
    for word in re.findall(r"\w\w+", text):
        stems = content_terms(word)
        if stems and not all(covered(t, known, known_prefixes) for t in stems) and word.lower() not in missing:
            missing.append(word.lower())
    return missing
