"""Cut a note into sentence-aligned chunks that fit the embedding model's window (pure).

A chunk is a contiguous span of `note.text` made of whole sentences, sized so
that its heading (`chunk_heading`: the note's title, names and tags, and its
section) plus the chunk fit the model's window; consecutive chunks share a
little overlap; a chunk never crosses a section (a Markdown heading, a seed
page's "Sources", "Related concepts", ...). Each sentence is also kept (with
its offsets) so that quotes can be scored and located later without re-reading
the note. A sentence is quotable unless it is a heading (or the navigation
hints a section's heading carries) or has no word in it (a lone "-").

    >>> words = lambda texts: [len(t.split()) for t in texts]   # a stand-in token counter
    >>> note = Note(id="n", title="T", text="Warmth training costs some accuracy here. "
    ...             "Models then agree with false beliefs more. Empathy rewards keep them truthful instead.")
    >>> for chunk in segment_note(note, words, chunk_tokens=16, overlap_tokens=7).chunks:
    ...     print(chunk.text)
    Warmth training costs some accuracy here. Models then agree with false beliefs more.
    Models then agree with false beliefs more. Empathy rewards keep them truthful instead.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..models import Chunk, Note
from .sentences import Span, split_sentences

TokenCounter = Callable[[Sequence[str]], list[int]]

MODEL_WINDOW = 256  # all-MiniLM-L6-v2's max_seq_length
SPECIAL_TOKENS = 3  # [CLS], [SEP] and the newline between title and text
_HEADING = re.compile(r"#{1,6}\s")
_CLAUSE_BREAK = re.compile(r"[;:,]\s+|\s+[—–]\s+")
_SPACE = re.compile(r"\s+")
_NEWLINE = re.compile(r"\n")


@dataclass(frozen=True)
class Segments:
    """A note's sentences (spans into `note.text`) and its chunks."""

    sentences: list[Span]
    quotable: list[bool]
    chunks: list[Chunk]


def segment_note(
    note: Note,
    count_tokens: TokenCounter,
    *,
    chunk_tokens: int = 200,
    overlap_tokens: int = 30,
    window: int = MODEL_WINDOW,
) -> Segments:
    """Sentences and chunks of one note; chunk i has id `<note_id>#<i>` (the store adds the hash)."""
    text = note.text
    raw = _cut_at(text, split_sentences(text, note.own_titles()), _section_cuts(note))
    heading_tokens = max(count_tokens(_headings(note)))
    budget = max(16, min(chunk_tokens, window - SPECIAL_TOKENS - heading_tokens))
    sentences, tokens = _fit_sentences(text, raw, count_tokens, budget)
    chrome = sorted((section.start, _content(note, section)) for section in note.sections)
    chrome_starts = [a for a, _ in chrome]
    quotable = [_quotable(text, s, e, chrome, chrome_starts) for s, e in sentences]
    section_starts = sorted(section.start for section in note.sections)
    paragraph_of = _paragraph_index(text, sentences)
    paragraph_rest = _paragraph_rest(tokens, paragraph_of)

    groups: list[list[int]] = []
    current: list[int] = []
    used = 0
    for index, (start, _) in enumerate(sentences):
        new_section = bool(current) and _section_at(section_starts, start) != _section_at(
            section_starts, sentences[current[0]][0]
        )
        new_paragraph = bool(current) and paragraph_of[index] != paragraph_of[current[-1]]
        prefer_break = new_paragraph and used >= budget // 2 and used + paragraph_rest[index] > budget
        if current and (new_section or used + tokens[index] > budget or prefer_break):
            groups.append(current)
            current = [] if new_section else _overlap(current, tokens, overlap_tokens, budget - tokens[index])
            used = sum(tokens[j] for j in current)
        current.append(index)
        used += tokens[index]
    if current:
        groups.append(current)
    # a section with nothing to quote (an empty "Next inquiring lines") is not worth a search hit
    worth = [group for group in groups if any(quotable[i] for i in group)]
    groups = worth or groups[:1]

    chunks = []
    for number, group in enumerate(groups):
        start, end = sentences[group[0]][0], sentences[group[-1]][1]
        chunks.append(
            Chunk(
                id=f"{note.id}#{number}",
                note_id=note.id,
                title=note.title,
                section=_section_title(note, start),
                heading=chunk_heading(note, start),
                start=start,
                end=end,
                text=text[start:end],
            )
        )
    return Segments(sentences=sentences, quotable=quotable, chunks=chunks)


def embedding_text(chunk: Chunk) -> str:
    """What is embedded for a chunk: its heading (the note's title, ...), then the chunk's text."""
    heading = chunk.heading or chunk.title
    return f"{heading}\n{chunk.text}" if heading else chunk.text


def note_heading(note: Note) -> str:
    """The note's title, then the names and tags its text doesn't hold (a Markdown note's
    front-matter aliases and tags), so a question that names them finds the note.

        >>> print(note_heading(Note(id="g", title="Graph notes", text="Edges.", aliases=["GN"], tags=["ml"])))
        Graph notes
        also called: GN
        tags: ml
    """
    lines = [note.title] if note.title else []
    names = [alias for alias in note.aliases if alias and alias not in note.text]
    if names:
        lines.append("also called: " + "; ".join(names))
    if note.tags:
        lines.append("tags: " + ", ".join(note.tags))
    return "\n".join(lines)


def chunk_heading(note: Note, start: int) -> str:
    """What is searched with the chunk of `note` starting at `start`, besides its text: the note's
    heading, and the title of the section it is in unless the chunk opens with that heading."""
    heading = note_heading(note)
    section = note.section_at(start)
    if section is None or start <= section.start:
        return heading
    return f"{heading}\n{section.title}" if heading else section.title


def _fit_sentences(
    text: str, spans: list[Span], count_tokens: TokenCounter, budget: int
) -> tuple[list[Span], list[int]]:
    """Split the rare sentence longer than a whole chunk at clause breaks, then at words."""
    counts = count_tokens([text[s:e] for s, e in spans]) if spans else []
    fitted: list[Span] = []
    fitted_counts: list[int] = []
    for (start, end), count in zip(spans, counts):
        if count <= budget:
            fitted.append((start, end))
            fitted_counts.append(count)
            continue
        for piece in _split_long(text, start, end, count, budget):
            fitted.append(piece)
            fitted_counts.append(count_tokens([text[piece[0]:piece[1]]])[0])
    return fitted, fitted_counts


def _split_long(text: str, start: int, end: int, count: int, budget: int) -> list[Span]:
    pieces_wanted = -(-count // budget) + 1
    target = (end - start) / pieces_wanted
    cuts = [start]
    breaks = [m.end() for m in _CLAUSE_BREAK.finditer(text, start, end)]
    if not breaks or max(b2 - b1 for b1, b2 in zip([start, *breaks], [*breaks, end])) > 2 * target:
        breaks = sorted(set(breaks) | {m.end() for m in _SPACE.finditer(text, start, end)})
    for position in breaks:
        if position - cuts[-1] >= target:
            cuts.append(position)
    cuts.append(end)
    spans = []
    for a, b in zip(cuts, cuts[1:]):
        a2, b2 = a, b
        while a2 < b2 and text[a2].isspace():
            a2 += 1
        while b2 > a2 and text[b2 - 1].isspace():
            b2 -= 1
        if b2 > a2:
            spans.append((a2, b2))
    return spans


def _overlap(group: list[int], tokens: list[int], overlap_tokens: int, room: int) -> list[int]:
    carried: list[int] = []
    total = 0
    for index in reversed(group[1:]):  # never carry the whole previous chunk
        if total + tokens[index] > min(overlap_tokens, room):
            break
        carried.insert(0, index)
        total += tokens[index]
    return carried


def _paragraph_index(text: str, sentences: list[Span]) -> list[int]:
    paragraph = 0
    indexes = []
    previous_end = None
    for start, end in sentences:
        if previous_end is not None and "\n" in text[previous_end:start]:
            paragraph += 1
        indexes.append(paragraph)
        previous_end = end
    return indexes


def _paragraph_rest(tokens: list[int], paragraph_of: list[int]) -> list[int]:
    """Tokens from each sentence to the end of its paragraph (one pass from the back: linear).

        >>> _paragraph_rest([3, 4, 5, 6], [0, 0, 1, 1])
        [7, 4, 11, 6]
    """
    rest = [0] * len(tokens)
    following = 0
    for index in range(len(tokens) - 1, -1, -1):
        same = index + 1 < len(tokens) and paragraph_of[index + 1] == paragraph_of[index]
        following = tokens[index] + (following if same else 0)
        rest[index] = following
    return rest


def sentence_rows(chunks: Sequence[Chunk], sentences: Sequence[Span]) -> list[range]:
    """The rows of `sentences` (sorted by start) that lie inside each chunk, by bisection.

        >>> sentence_rows([Chunk(id="n#0", note_id="n", title="", start=0, end=9, text="")],
        ...               [(0, 4), (5, 9), (10, 14)])
        [range(0, 2)]
    """
    starts = [start for start, _ in sentences]
    ends = [end for _, end in sentences]
    rows = []
    for chunk in chunks:
        first = bisect_left(starts, chunk.start)
        last = first
        while last < len(sentences) and ends[last] <= chunk.end:
            last += 1
        rows.append(range(first, last))
    return rows


def _headings(note: Note) -> list[str]:
    """Every heading a chunk of the note can get (for the token budget)."""
    heading = note_heading(note)
    return [heading] + [f"{heading}\n{section.title}" for section in note.sections]


def _content(note: Note, section) -> int:
    """Where a section's quotable text starts (a Markdown heading's: the line after it)."""
    if section.content is not None:
        return section.content
    line_end = note.text.find("\n", section.start)
    return len(note.text) if line_end == -1 else line_end + 1


def _section_cuts(note: Note) -> list[int]:
    """Where sentences must break: each section's heading and content start and, in a seed page's
    sections (lists exported one entry a line), every line."""
    cuts = []
    ends = [section.start for section in note.sections[1:]] + [len(note.text)]
    for section, end in zip(note.sections, ends):
        content = _content(note, section)
        cuts += [section.start, content]
        if section.name:
            cuts += [m.end() for m in _NEWLINE.finditer(note.text, content, end)]
    return cuts


def _cut_at(text: str, spans: list[Span], cuts: list[int]) -> list[Span]:
    """Split any sentence that runs across one of `cuts` (a section's heading glued to its text)."""
    cuts = sorted(set(cuts))
    out: list[Span] = []
    for start, end in spans:
        inside = cuts[bisect_right(cuts, start):bisect_left(cuts, end)]
        pieces = [start, *inside, end]
        for a, b in zip(pieces, pieces[1:]):
            while a < b and text[a].isspace():
                a += 1
            while b > a and text[b - 1].isspace():
                b -= 1
            if b > a:
                out.append((a, b))
    return out


def _quotable(text: str, start: int, end: int, chrome: list[Span], chrome_starts: list[int]) -> bool:
    sentence = text[start:end]
    if _HEADING.match(sentence) or not any(ch.isalnum() for ch in sentence):
        return False
    # chrome spans (a section's heading lines) start at distinct, sorted section starts and don't
    # overlap: only the last one starting at or before the sentence can hold it
    last = bisect_right(chrome_starts, start) - 1
    if last < 0:
        return True
    a, b = chrome[last]
    return not (b > a and a <= start and end <= b)


def _section_at(section_starts: list[int], position: int) -> int:
    return bisect_right(section_starts, position)


def _section_title(note: Note, position: int) -> str:
    title = ""
    for section in note.sections:
        if section.start <= position:
            title = section.title
    return title
