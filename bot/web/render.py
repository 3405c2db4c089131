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

from ..markdown import md_escape
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
) -> Markup:
    """The note's text, escaped, with inline citations as links and one highlighted passage.

    `links` are `(start, end, href)` spans of `text`; `highlight` is the quoted span, wrapped in
    `<mark id="hl">` so `#hl` scrolls to it without any script. Where the two overlap, the link
    is split, so the markup always nests.
    """
    spans = sorted((s, e, href) for s, e, href in links if 0 <= s < e <= len(text))
    kept: list[tuple[int, int, str]] = []
    for span in spans:  # overlapping links: the first wins
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    cuts = {0, len(text)}
    for s, e, _ in kept:
        cuts.update((s, e))
    if highlight:
        cuts.update(highlight)
    cuts = sorted(cuts)

    out: list[str] = []
    marked = False
    first_mark = True
    link_at = {s: (e, href) for s, e, href in kept}
    current: tuple[int, str] | None = None  # (end, href) of the link we are inside
    for begin, end in zip(cuts, cuts[1:]):
        inside = bool(highlight) and highlight[0] <= begin and end <= highlight[1]
        if inside and not marked:
            out.append('<mark id="hl">' if first_mark else "<mark>")
            marked, first_mark = True, False
        elif not inside and marked:
            out.append("</mark>")
            marked = False
        if begin in link_at:
            current = link_at[begin]
        if current is not None and begin >= current[0]:
            current = None
        piece = str(escape(text[begin:end]))
        if current is not None:
            piece = f'<a href="{escape(current[1])}">{piece}</a>'
        out.append(piece)
    if marked:
        out.append("</mark>")
    return Markup("".join(out))


def note_links(note, root_path: str = "") -> list[tuple[int, int, str]]:
    """A note's inline citations as `(start, end, href)` for `note_body_html`."""
    return [(span.start, span.end, with_root(note_url(span.note_id), root_path)) for span in note.link_spans]


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
        group["quotes"].append({"text": citation.quote, "url": with_root(citation.url, root_path)})
    return templates().get_template("sources.html").render(
        groups=list(groups.values()), root=root_path, empty=False, abstained=answer.abstained,
        suggestions=[{"title": s.title, "url": with_root(s.url, root_path)} for s in answer.suggestions],
    )
