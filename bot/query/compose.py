"""Compose the answer from the notes' own words: quoted passages, numbered citations, abstention (pure).

    answer = compose_answer(question, snapshot, hits, evidence, threshold)
    answer.answer       Markdown: "Two notes address this:", the quotes, **Sources:**, **Related notes:**
    answer.citations    one Citation per quote: `note.text[start:end] == quote`

With weak evidence (the best passage's evidence score below `threshold`) the answer abstains:
it says `NOT_ADDRESSED`, cites nothing, and offers the nearest notes as `suggestions`; unless
the question is close to a note as a whole (`topics`: a note's similarity to the question, at or
above `topic_threshold`), when it says so: it leads with `TOPIC_ONLY` and quotes each close
note's nearest passage as a pointer, not as evidence that answers the question.

A quoted passage that cites notes inline brings the cited note's own words beside it
(`linked`, see `sources`); a follow-up that finds nothing the conversation has not shown says
`NOTHING_NEW` in one line, with links to what was already quoted (`nothing_new_answer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..index.snapshot import Snapshot
from ..markdown import blockquote, md_escape
from ..models import Answer, Citation, NoteRef
from ..urls import note_url, passage_url
from .evidence import Evidence
from .mentions import quote_links
from .params import DEFAULT_ANSWER_PARAMS, AnswerParams
from .quotes import Quote
from .retrieval import NoteHit, mmr
from .sources import place_cited, prefer_originals

NOT_ADDRESSED = "None of the notes address this."
TOPIC_ONLY = "No passage says this outright; the closest notes are:"
NOTHING_NEW = "Nothing new in the notes beyond what was already quoted:"
_NUMBER_WORDS = ["No", "One", "Two", "Three", "Four", "Five", "Six", "Seven", "Eight", "Nine", "Ten"]


def compose_answer(question: str, snapshot: Snapshot, hits: list[NoteHit], evidence: list[Evidence],
                   threshold: float, params: AnswerParams = DEFAULT_ANSWER_PARAMS,
                   max_notes: int = 3, linked: Mapping[str, Evidence] | None = None,
                   shown: Mapping[str, Sequence[tuple[int, int]]] | None = None,
                   topics: Mapping[str, float] | None = None, topic_threshold: float = float("inf")) -> Answer:
    """The Markdown answer and its citations (pure: everything comes in as arguments).

    `linked` is the evidence of the notes that candidate passages cite inline
    (`sources.cited_evidence`); with `params.follow_sources` they are quoted beside the
    passage citing them, and a passage copying a note it names is quoted from that note
    (unless that note's passage is among those `shown` earlier in the conversation).
    `topics` maps note ids to how close each note as a whole is to the question (see the module)."""
    best = max((e.score for e in evidence), default=float("-inf"))
    if best < threshold:
        near = [e for e in evidence if (topics or {}).get(e.hit.note_id, float("-inf")) >= topic_threshold]
        if near:
            return topic_answer(question, snapshot, hits, near, topics or {}, max_notes)
        suggestions = [note_ref(snapshot, h.note_id) for h in hits[:3]]
        return Answer(question=question, answer=NOT_ADDRESSED, abstained=True, suggestions=suggestions)

    # In ranking order (retrieval and passage evidence together), the notes whose evidence is
    # close enough to the best; diversified so near-duplicate notes don't crowd out others.
    close = [e for e in evidence if e.score >= max(threshold, best - params.evidence_margin)]
    close = distinct_quotes(close, snapshot)
    chosen = diversify(close, snapshot, max_notes, params.diversity)
    if params.follow_sources and linked:
        chosen = place_cited(chosen, linked, snapshot, threshold, shown_quotes, params.cited_notes, max_notes)
    items = [(snapshot.notes[item.hit.row], shown_quotes(item, n == 1)) for n, item in enumerate(chosen, start=1)]
    if params.follow_sources:
        items = prefer_originals(snapshot, items, shown)
        if not items:  # every passage copies one the conversation quoted from its original already
            return nothing_new_answer(question, snapshot, [(note_id, start, end) for note_id, spans in (shown or {}).items()
                                                           for start, end in spans])
    citations: list[Citation] = []
    blocks: list[str] = []
    for n, (note, passages) in enumerate(items, start=1):
        for quote in passages:
            text = note.text[quote.start:quote.end]
            url = passage_url(note.id, quote.start, quote.end)
            links = quote_links(snapshot, note, quote.start, quote.end)  # mentions of other notes, as links
            citations.append(Citation(n=n, note_id=note.id, title=note.title, url=url, quote=text,
                                      start=quote.start, end=quote.end, score=round(quote.score, 4), links=links))
            blocks.append(f"{blockquote(text, [(k.start, k.end, note_url(k.note_id)) for k in links])} [[{n}]]({url})")
    cited = [c.note_id for c in citations]
    related = related_notes(snapshot, hits, cited)
    lines = [f"{_count_words(len(items))} {'note addresses' if len(items) == 1 else 'notes address'} this:", ""]
    for block in blocks:
        lines += [block, ""]
    sources = " · ".join(
        f"[{c.n}] [{md_escape(c.title)}]({note_url(c.note_id)})"
        for c in citations if c.n not in {d.n for d in citations[: citations.index(c)]}
    )
    lines.append(f"**Sources:** {sources}")
    if related:
        lines += ["", "**Related notes:** " + " · ".join(f"[{md_escape(r.title)}]({r.url})" for r in related)]
    return Answer(question=question, answer="\n".join(lines), abstained=False, citations=citations,
                  related=related)


def topic_answer(question: str, snapshot: Snapshot, hits: list[NoteHit], near: list[Evidence],
                 topics: Mapping[str, float], max_notes: int) -> Answer:
    """No passage answers well enough, but notes as a whole are close to the question: say so
    (`TOPIC_ONLY`), then each close note's nearest passage, closest note first, as a pointer."""
    chosen = sorted(near, key=lambda e: -topics[e.hit.note_id])[:max_notes]
    citations: list[Citation] = []
    lines = [TOPIC_ONLY, ""]
    for n, item in enumerate(chosen, start=1):
        note, quote = snapshot.notes[item.hit.row], item.quotes[0]
        text = note.text[quote.start:quote.end]
        url = passage_url(note.id, quote.start, quote.end)
        links = quote_links(snapshot, note, quote.start, quote.end)
        citations.append(Citation(n=n, note_id=note.id, title=note.title, url=url, quote=text,
                                  start=quote.start, end=quote.end, score=round(quote.score, 4), links=links))
        lines += [f"{n}. [{md_escape(note.title)}]({note_url(note.id)}), nearest passage:", "",
                  f"{blockquote(text, [(k.start, k.end, note_url(k.note_id)) for k in links])} [[{n}]]({url})", ""]
    related = related_notes(snapshot, hits, [c.note_id for c in citations])
    if related:
        lines += ["**Related notes:** " + " · ".join(f"[{md_escape(r.title)}]({r.url})" for r in related)]
    return Answer(question=question, answer="\n".join(lines).rstrip(), abstained=False, citations=citations,
                  related=related)


def shown_quotes(item: Evidence, first: bool) -> list[Quote]:
    """The passages of a chosen note the answer shows: its best, and for the first note also its
    second best when nearly as good (in text order)."""
    if first and len(item.quotes) > 1 and item.quotes[1].score >= 0.92 * item.quotes[0].score:
        return sorted(item.quotes[:2], key=lambda q: q.start)
    return item.quotes[:1]


def nothing_new_answer(question: str, snapshot: Snapshot, shown: Sequence[tuple[str, int, int]]) -> Answer:
    """A follow-up whose notes hold nothing the conversation has not quoted: one line saying so,
    linking each note already quoted (its first passage shown) and naming them as `suggestions`."""
    refs: dict[str, NoteRef] = {}
    for note_id, start, end in shown:
        note = snapshot.note(note_id)
        if note is not None and note_id not in refs:
            refs[note_id] = NoteRef(note_id=note_id, title=note.title, url=passage_url(note_id, start, end))
    pointers = " · ".join(f"[{md_escape(r.title)}]({r.url})" for r in refs.values())
    return Answer(question=question, answer=f"{NOTHING_NEW} {pointers}".rstrip(), abstained=False,
                  suggestions=list(refs.values()))


def distinct_quotes(evidence: list[Evidence], snapshot: Snapshot) -> list[Evidence]:
    """The evidence whose best passage says something not said above it: a source's summary is
    written word for word on every inquiry that lists it (their Sources sections are quotable),
    and one answer quotes it once, from the first note in the ranking."""
    seen: set[str] = set()
    kept = []
    for item in evidence:
        words = _words(snapshot.notes[item.hit.row].text, item.quotes[0])
        if words not in seen:
            seen.add(words)
            kept.append(item)
    return kept


def _words(text: str, quote) -> str:
    return " ".join(text[quote.start:quote.end].split())


def diversify(evidence: list[Evidence], snapshot: Snapshot, k: int, diversity: float) -> list[Evidence]:
    """Up to k notes by maximal marginal relevance over their note vectors, keeping the first."""
    if len(evidence) <= 1:
        return evidence[:k]
    hits = [NoteHit(row=e.hit.row, note_id=e.hit.note_id, score=-i) for i, e in enumerate(evidence)]
    kept = {h.note_id for h in mmr(hits, snapshot.note_vectors, k, diversity)}
    return [e for e in evidence if e.hit.note_id in kept]


def related_notes(snapshot: Snapshot, hits: list[NoteHit], cited: list[str], limit: int = 3) -> list[NoteRef]:
    """Up to three notes worth reading next: linked from the cited notes, then the next retrieved."""
    seen = set(cited)
    related: list[NoteRef] = []
    candidates: list[str] = []
    for note_id in dict.fromkeys(cited):
        note = snapshot.note(note_id)
        if note is not None:
            candidates += note.links + snapshot.backlinks.get(note_id, [])
    retrieved = [h.note_id for h in hits[:10]]
    ranked = [c for c in retrieved if c in candidates] + retrieved  # linked and relevant first
    for note_id in ranked:
        if note_id not in seen and snapshot.note(note_id) is not None:
            seen.add(note_id)
            related.append(note_ref(snapshot, note_id))
        if len(related) >= limit:
            break
    return related


def note_ref(snapshot: Snapshot, note_id: str) -> NoteRef:
    note = snapshot.note(note_id)
    return NoteRef(note_id=note_id, title=note.title if note else note_id, url=note_url(note_id))


def _count_words(n: int) -> str:
    return _NUMBER_WORDS[n] if n < len(_NUMBER_WORDS) else str(n)
