"""Turn answers and notes into safe Markdown and HTML (pure functions, no I/O).

Everything that came from a note or a user is escaped here or by Jinja's
autoescape; nothing from a note or a question is ever markup.

    >>> question_markdown("What do <think>...</think> blocks do?")
    'What do &lt;think&gt;...&lt;/think&gt; blocks do?'
    >>> with_root("/notes/x?hl=1-5#hl", "/bot")
    '/bot/notes/x?hl=1-5#hl'
    >>> str(note_body_html("See Other note here.", [(4, 14, "/notes/other")], (0, 3)))
    '<mark id="hl">See</mark> <a href="/notes/other">Other note</a> here.'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from markupsafe import Markup, escape

from ..markdown import emphasis_spans, md_escape
from ..models import Answer
from ..urls import note_url

_NOTE_LINK = re.compile(r"\]\((/notes/)")


def with_root(url: str, root_path: str) -> str:
    """A site-relative URL under the app's root path (behind a reverse proxy at /bot, say)."""
    return f"{root_path}{url}" if url.startswith("/") and not url.startswith("//") else url


def as_sentence(text: str) -> str:
    """A message as a sentence a person reads: stripped, its first letter capital.

        >>> as_sentence("the question is empty")
        'The question is empty'
    """
    text = text.strip()
    return text[:1].upper() + text[1:] if text else text


def question_markdown(question: str) -> str:
    """A user's question as Markdown that shows literally (no HTML, links or emphasis from it)."""
    return md_escape(question)


def answer_blocks(answer: Answer, root_path: str = "") -> list[str]:
    """The answer's Markdown in the blocks it is streamed in (the lead line, each quoted passage
    with its citation, the sources), with note links under the root path. An abstention names
    the nearest notes as suggestions."""
    text = answer.answer
    if answer.abstained and answer.suggestions:
        nearest = " · ".join(f"[{md_escape(s.title)}]({s.url})" for s in answer.suggestions)
        text = f"{text}\n\n**The nearest notes:** {nearest}"
    text = _NOTE_LINK.sub(lambda m: f"]({root_path}{m.group(1)}", text)
    blocks = [block for block in text.split("\n\n") if block.strip()]
    if answer.mode == "synthesized" and blocks:
        blocks[-1] = checked_note_html(answer)  # its last line, with what was dropped and why
    return blocks


WRITING = "_Writing an answer from the quotes beside the chat; each sentence shows once it is checked…_"


def writing_markdown(answer: Answer, root_path: str = "") -> str:
    """What the chat shows while an LLM writes: the sentences checked so far, and that it is writing."""
    prose = _NOTE_LINK.sub(lambda m: f"]({root_path}{m.group(1)}", answer.answer) if answer.sentences else ""
    return f"{prose}\n\n{WRITING}" if prose else WRITING


def checked_note_html(answer: Answer) -> str:
    """The small "checked against the quotes" note under a synthesized answer: what was left out
    and why, on hover (its title) or click (it opens). Everything in it is escaped."""
    dropped = answer.dropped
    if not dropped:
        summary = "✓ Checked against the quotes"
        title = "Every sentence cites a quote below, and was checked against it: its numbers, words and meaning."
        return f'<span class="nb-checked" title="{escape(title)}">{escape(summary)}</span>'
    count = len(dropped)
    summary = f"✓ Checked against the quotes: {count} sentence{'s' if count != 1 else ''} left out"
    lines = [f"“{d.text}” — {d.reason}" for d in dropped]
    items = "".join(f"<li>{_inert(line)}</li>" for line in lines)
    return (f'<details class="nb-checked"><summary title="{_inert(chr(10).join(lines))}">{escape(summary)}</summary>'
            f"<ul>{items}</ul></details>")


_MARKDOWN_PUNCTUATION = str.maketrans({c: f"&#{ord(c)};" for c in "[]()*_`\\!#|~<>&\"'"})


def _inert(text: str) -> str:
    """Text for HTML inside the chat's Markdown: every character that HTML or Markdown could read
    as markup (a tag, a link, emphasis) written as an entity."""
    return text.translate(_MARKDOWN_PUNCTUATION)


def parse_highlight(value: str | None, text_length: int) -> tuple[int, int] | None:
    """`?hl=START-END` as offsets into the note's text, or None when absent or out of range."""
    if not value:
        return None
    match = re.fullmatch(r"(\d{1,9})-(\d{1,9})", value.strip())
    if not match:
        return None
    start, end = int(match.group(1)), int(match.group(2))
    return (start, end) if 0 <= start < end <= text_length else None


def note_body_html(
    text: str,
    links: Sequence[tuple[int, int, str]],
    highlight: tuple[int, int] | None = None,
    *,
    mark_id: bool = True,
    new_tab: bool = False,
) -> Markup:
    """The note's text, escaped, with inline citations as links, its own emphasis as emphasis, and
    one highlighted passage.

    `links` are `(start, end, href)` spans of `text`; `highlight` is the quoted span, wrapped in
    `<mark id="hl">` so `#hl` scrolls to it without any script (`mark_id=False`: a plain `<mark>`).
    Balanced `*emphasis*` and `**strong**` markers become `<em>`/`<strong>` (`markdown.emphasis_spans`);
    everything else shows as written. Where these overlap, the outer element is split, so the
    markup always nests.
    """
    spans = sorted((s, e, href) for s, e, href in links if 0 <= s < e <= len(text))
    kept: list[tuple[int, int, str]] = []
    for span in spans:  # overlapping links: the first wins
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    emphasis = emphasis_spans(text, [(s, e) for s, e, _ in kept])
    hidden = [(e.start, e.inner[0]) for e in emphasis] + [(e.inner[1], e.end) for e in emphasis]
    cuts = {0, len(text)}
    for s, e, _ in kept:
        cuts.update((s, e))
    for e in emphasis:
        cuts.update((e.start, e.end, *e.inner))
    if highlight:
        cuts.update(highlight)
    cuts = sorted(c for c in cuts if 0 <= c <= len(text))

    out: list[str] = []
    stack: list[tuple] = []  # the open elements, outermost first: ("mark",), ("a", href), ("em"|"strong",)
    first_mark = mark_id
    for begin, end in zip(cuts, cuts[1:]):
        if any(a <= begin and end <= b for a, b in hidden):
            continue  # an emphasis marker: shown as emphasis, not as an asterisk
        wanted: list[tuple] = []
        if highlight and highlight[0] <= begin and end <= highlight[1]:
            wanted.append(("mark",))
        link = next((href for s, e, href in kept if s <= begin and end <= e), None)
        if link is not None:
            wanted.append(("a", link))
        for e in emphasis:
            if e.inner[0] <= begin and end <= e.inner[1]:
                wanted.append(("strong",) if e.width == 2 else ("em",))
        keep = 0
        while keep < len(stack) and keep < len(wanted) and stack[keep] == wanted[keep]:
            keep += 1
        while len(stack) > keep:
            out.append(f"</{stack.pop()[0]}>")
        for element in wanted[keep:]:
            if element[0] == "mark":
                out.append('<mark id="hl">' if first_mark else "<mark>")
                first_mark = False
            elif element[0] == "a":
                extra = ' target="_blank" rel="noopener"' if new_tab else ""
                out.append(f'<a href="{escape(element[1])}"{extra}>')
            else:
                out.append(f"<{element[0]}>")
            stack.append(element)
        out.append(str(escape(text[begin:end])))
    while stack:
        out.append(f"</{stack.pop()[0]}>")
    return Markup("".join(out))


def quote_html(quote: str, links: Sequence[tuple[int, int, str]] = (), *, new_tab: bool = True) -> Markup:
    """A quote as HTML: escaped, its mentions of other notes as links, its own emphasis as emphasis."""
    return note_body_html(quote, links, None, new_tab=new_tab)


def note_sections_html(note, links: Sequence[tuple[int, int, str]], highlight: tuple[int, int] | None) -> list[dict]:
    """The note's text part by part for its page: the body, then each section (its heading as a
    title, its own text below), every part escaped and linked like `note_body_html`, the
    highlight in whichever part holds it (`id="hl"` on its first piece only). A seed page's
    related concepts show one entry each: the concept's title, what it is, how it relates."""
    text = note.text
    bounds = [(None, 0, note.body_end())]
    sections = list(note.sections)
    for section, following in zip(sections, sections[1:] + [None]):
        stop = following.start if following is not None else len(text)
        content = section.content if section.content is not None else _line_end(text, section.start)
        bounds.append((section, min(content, stop), stop))
    state = {"marked": False}

    def piece(start: int, stop: int) -> Markup:
        while stop > start and text[stop - 1].isspace():
            stop -= 1
        while start < stop and text[start].isspace():
            start += 1
        if stop <= start:
            return Markup("")
        local = [(s - start, e - start, href) for s, e, href in links if start <= s and e <= stop]
        shown = None
        if highlight and highlight[0] < stop and start < highlight[1]:
            shown = (max(highlight[0], start) - start, min(highlight[1], stop) - start)
        html = note_body_html(text[start:stop], local, shown, mark_id=not state["marked"])
        state["marked"] = state["marked"] or shown is not None
        return html

    parts = []
    anchors: set[str] = set()
    for section, start, stop in bounds:
        if section is not None and section.name == "related_concepts":
            html = _concepts_html(text, start, stop, piece)
        else:
            html = piece(start, stop)
        if section is None:
            parts.append({"id": "body", "title": "", "count": None, "html": html, "name": ""})
            continue
        anchor = _anchor(section)
        anchor = anchor if anchor not in anchors else f"{anchor}-{len(parts)}"
        anchors.add(anchor)
        parts.append({"id": anchor, "title": section.title, "count": section.count, "html": html,
                      "name": section.name})
    return parts


def _concepts_html(text: str, start: int, stop: int, piece) -> Markup:
    """Related concepts: entries separated by lone "-" lines, each its title, description, relation."""
    entries: list[list[tuple[int, int]]] = []
    position = start
    for line in text[start:stop].splitlines(keepends=True):
        line_start, position = position, position + len(line)
        stripped = line.strip()
        if stripped in ("-", ""):
            if stripped == "-":
                entries.append([])
            continue
        if stripped.startswith("- "):
            entries.append([])
            line_start += line.index("- ") + 2
        if not entries:
            entries.append([])
        entries[-1].append((line_start, position))
    roles = ("concept-title", "desc", "relation")
    out = []
    for lines in entries:
        if not lines:
            continue
        rows = [(roles[min(i, 2)], piece(a, b)) for i, (a, b) in enumerate(lines)]
        out.append('<div class="concept">' + "".join(f'<div class="{role}">{html}</div>' for role, html in rows)
                   + "</div>")
    return Markup("".join(out))


def _line_end(text: str, position: int) -> int:
    end = text.find("\n", position)
    return len(text) if end == -1 else end + 1


def _anchor(section) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", (section.name or section.title).lower()).strip("-")
    return f"section-{slug or 'part'}"


def note_links(note, root_path: str = "", sources: Sequence = ()) -> list[tuple[int, int, str]]:
    """A note's mentions of other notes as `(start, end, href)` for `note_body_html`; with its page's
    `sources` (`TitleRef`s), a Sources-list summary whose title the page doesn't write (seed 000
    lists summaries alone) links to its source note."""
    links = [(span.start, span.end, with_root(note_url(span.note_id), root_path)) for span in note.link_spans]
    listed = next((s for s in note.sections if s.name == "sources"), None)
    if listed is not None:
        named = {note.text[a:b] for a, b, _ in links if a >= listed.start}  # titles the list itself writes
        for ref in sources:
            if ref.note_id and ref.title not in named and ref.description:
                at = note.text.find(ref.description, listed.start)
                if at != -1:
                    links.append((at, at + len(ref.description), with_root(note_url(ref.note_id), root_path)))
    return links


@lru_cache(maxsize=1)
def templates():
    """The Jinja2 environment over `bot/templates` (autoescaped)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(
        loader=PackageLoader("bot", "templates"),
        autoescape=select_autoescape(["html"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["note_url"] = note_url
    return env


def sources_panel_html(answer: Answer | None, kinds: dict[str, str], root_path: str = "") -> str:
    """The panel beside the chat: each cited note's number, title, kind, the quote and links."""
    if answer is None:
        return templates().get_template("sources.html").render(groups=[], root=root_path, empty=True)
    groups: dict[int, dict] = {}
    for citation in answer.citations:
        group = groups.setdefault(citation.n, {
            "n": citation.n,
            "title": citation.title,
            "kind": kinds.get(citation.note_id, ""),
            "note_url": with_root(note_url(citation.note_id), root_path),
            "quotes": [],
        })
        mentions = [(k.start, k.end, with_root(note_url(k.note_id), root_path)) for k in citation.links]
        group["quotes"].append({"text": citation.quote, "html": quote_html(citation.quote, mentions),
                                "url": with_root(citation.url, root_path)})
    return templates().get_template("sources.html").render(
        groups=list(groups.values()), root=root_path, empty=False, abstained=answer.abstained,
        suggestions=[{"title": s.title, "url": with_root(s.url, root_path)} for s in answer.suggestions],
    )
