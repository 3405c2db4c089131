"""bot.web.render: safe Markdown and HTML from answers and notes (pure, no index needed)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from bot.models import Answer, Citation, NoteRef
from bot.web.render import answer_blocks, note_body_html, parse_highlight, question_markdown, sources_panel_html, with_root

HOSTILE = "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\"> [x](javascript:alert(1))"


class _Tags(HTMLParser):
    """Every start tag and attribute in some HTML, to check what a browser would build."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.stack: list[str] = []
        self.balanced = True

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.stack.append(tag)

    def handle_endtag(self, tag):
        if not self.stack or self.stack.pop() != tag:
            self.balanced = False


def parse(html: str) -> _Tags:
    parser = _Tags()
    parser.feed(html)
    parser.close()
    return parser


def _answer(**extra) -> Answer:
    citation = Citation(n=1, note_id="a-note", title="A <b>note</b>", url="/notes/a-note?hl=0-5#hl",
                        quote="<think>x</think> quoted", start=0, end=5, score=1.0)
    markdown = ("One note addresses this:\n\n> &lt;think&gt;x&lt;/think&gt; quoted [[1]](/notes/a-note?hl=0-5#hl)"
                "\n\n**Sources:** [1] [A note](/notes/a-note)")
    return Answer(question="q", answer=markdown, abstained=False, citations=[citation], **extra)


def test_question_markdown_shows_markup_literally():
    shown = question_markdown("What do <think>...</think> blocks do? **bold** [x](javascript:alert(1))")
    assert "<" not in shown and ">" not in shown
    assert "&lt;think&gt;" in shown
    assert r"\*\*bold\*\*" in shown and r"\[x\]\(javascript" in shown


def test_answer_blocks_split_for_streaming_and_put_links_under_the_root_path():
    blocks = answer_blocks(_answer(), "/bot")
    assert blocks[0] == "One note addresses this:"
    assert blocks[1].startswith("> &lt;think&gt;") and "(/bot/notes/a-note?hl=0-5#hl)" in blocks[1]
    assert "(/bot/notes/a-note)" in blocks[2]
    assert "](/notes/" not in "\n\n".join(blocks)
    assert answer_blocks(_answer(), "") == [b.replace("/bot/", "/") for b in blocks]


def test_an_abstention_names_the_nearest_notes():
    answer = Answer(question="q", answer="None of the notes address this.", abstained=True,
                    suggestions=[NoteRef(note_id="n1", title="A [tricky] <title>", url="/notes/n1")])
    blocks = answer_blocks(answer, "/p")
    assert blocks[0] == "None of the notes address this."
    assert blocks[1] == r"**The nearest notes:** [A \[tricky\] &lt;title&gt;](/p/notes/n1)"


def test_with_root():
    assert with_root("/notes/x", "") == "/notes/x"
    assert with_root("/notes/x", "/bot") == "/bot/notes/x"
    assert with_root("https://example.org/x", "/bot") == "https://example.org/x"
    assert with_root("//evil.example/x", "/bot") == "//evil.example/x"


def test_parse_highlight_accepts_only_spans_inside_the_text():
    assert parse_highlight("3-9", 20) == (3, 9)
    assert parse_highlight(" 0-20 ", 20) == (0, 20)
    for bad in (None, "", "9-3", "5-5", "0-21", "-1-4", "a-b", "1-2-3", "99999999999-1", "1e3-2e3"):
        assert parse_highlight(bad, 20) is None, bad


def test_note_body_is_escaped_with_links_and_a_highlight():
    text = "Intro <script>x</script>. See Linked note title here. End <think>...</think>"
    start = text.index("Linked")
    html = note_body_html(text, [(start, start + len("Linked note title"), "/notes/linked")],
                          (text.index("See"), text.index(" End")))
    assert "<script>" not in html and "&lt;script&gt;" in html and "&lt;think&gt;...&lt;/think&gt;" in html
    tags = parse(html)
    assert tags.balanced
    assert [t for t, _ in tags.tags] == ["mark", "a"]
    assert tags.tags[0][1] == {"id": "hl"}
    assert tags.tags[1][1] == {"href": "/notes/linked"}
    marked = re.search(r'<mark id="hl">(.*?)</mark>', html).group(1)
    assert re.sub(r"<[^>]+>", "", marked) == "See Linked note title here."


def test_a_highlight_that_cuts_through_a_link_splits_the_link_and_stays_nested():
    text = "aaaa LINKED TEXT bbbb"
    link = (5, 16, "/notes/l")
    html = note_body_html(text, [link], (0, 10))  # ends inside the link
    tags = parse(html)
    assert tags.balanced
    assert [t for t, _ in tags.tags] == ["mark", "a", "a"]
    assert re.sub(r"<[^>]+>", "", str(html)) == text
    assert html.count('id="hl"') == 1


def test_only_the_first_of_overlapping_links_is_kept_and_spans_outside_the_text_are_dropped():
    text = "one two three four"
    html = note_body_html(text, [(0, 7, "/a"), (4, 13, "/b"), (10, 99, "/c")])
    assert [a["href"] for _, a in parse(html).tags] == ["/a"]


def test_link_hrefs_are_escaped():
    html = note_body_html("x y", [(0, 1, '/notes/a"onmouseover="alert(1)')])
    assert [(t, a["href"]) for t, a in parse(html).tags] == [("a", '/notes/a"onmouseover="alert(1)')]
    assert "onmouseover=\"" not in html.replace('&#34;onmouseover=&#34;', "")


def test_sources_panel_escapes_titles_and_quotes_and_links_under_the_root():
    answer = _answer()
    answer.citations[0].quote = HOSTILE
    html = sources_panel_html(answer, {"a-note": "source"}, "/bot")
    tags = parse(html)
    assert {t for t, _ in tags.tags} <= {"div", "ol", "li", "span", "a", "blockquote", "p", "ul"}
    assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs)
    assert "&lt;script&gt;" in html and "A &lt;b&gt;note&lt;/b&gt;" in html
    hrefs = [a["href"] for t, a in tags.tags if t == "a"]
    assert hrefs == ["/bot/notes/a-note", "/bot/notes/a-note?hl=0-5#hl"]
    assert "source" in html


def test_the_empty_sources_panel_invites_a_question():
    assert "Ask a question" in sources_panel_html(None, {}, "")


def test_a_follow_up_with_nothing_new_lists_what_was_already_quoted():
    from bot.models import Answer, NoteRef
    from bot.query.compose import NOTHING_NEW

    shown = NoteRef(note_id="a-note", title="A <b>note</b>", url="/notes/a-note?hl=0-5#hl")
    answer = Answer(question="why?", answer=f"{NOTHING_NEW} [A](/notes/a-note?hl=0-5#hl)", abstained=False,
                    suggestions=[shown])
    html = sources_panel_html(answer, {}, "/bot")
    assert "Nothing new" in html and "A &lt;b&gt;note&lt;/b&gt;" in html
    assert [a["href"] for t, a in parse(html).tags if t == "a"] == ["/bot/notes/a-note?hl=0-5#hl"]
    assert answer_blocks(answer, "/bot") == [f"{NOTHING_NEW} [A](/bot/notes/a-note?hl=0-5#hl)"]


# --- mentions of notes and the note's own emphasis; every section of a page ----------------------

from bot.models import Note, QuoteLink, Section  # noqa: E402
from bot.web.render import note_sections_html  # noqa: E402


def test_the_sources_panel_links_mentions_and_shows_emphasis_never_markup():
    quote = "errors get *worse* when sad Does <b>warmth</b> hurt? ok. *unclosed <img src=x onerror=alert(1)>"
    start = quote.index("Does")
    end = quote.index("? ok") + 1
    answer = _answer()
    answer.citations[0].quote = quote
    answer.citations[0].links = [QuoteLink(start=start, end=end, note_id="warmth", title=quote[start:end])]
    html = sources_panel_html(answer, {"a-note": "inquiry"}, "/bot")
    tags = parse(html)
    assert tags.balanced
    assert {t for t, _ in tags.tags} <= {"div", "ol", "li", "span", "a", "blockquote", "p", "ul", "em"}
    assert not any(k.startswith("on") for _, attrs in tags.tags for k in attrs)
    block = re.search(r'<blockquote class="nb-quote">(.*?)</blockquote>', html, re.S).group(1)
    assert "<em>worse</em>" in block
    assert '<a href="/bot/notes/warmth" target="_blank" rel="noopener">Does &lt;b&gt;warmth&lt;/b&gt; hurt?</a>' in block
    assert "*unclosed &lt;img" in block
    assert re.sub(r"<[^>]+>", "", block).replace("&lt;", "<").replace("&gt;", ">") == quote.replace("*worse*", "worse")


def test_emphasis_and_a_highlight_and_a_link_nest():
    text = "one *two three* four Linked title here five"
    link = (text.index("Linked"), text.index(" here"), "/notes/l")
    html = note_body_html(text, [link], (text.index("three"), text.index("title")))
    tags = parse(html)
    assert tags.balanced and html.count('id="hl"') == 1
    assert re.sub(r"<[^>]+>", "", str(html)) == text.replace("*", "")
    assert "<em>two " in html and "<strong>" not in html


def seed_like_note() -> Note:
    text = ("Body cites Other note title here.\n"
            "Related concepts in this collection 1\n"
            "Click a node to walk\n-\nOther note title here\nWhat it is about.\nhow it relates *closely*\n"
            "Related papers in this collection 1\n- A Paper: <script>x</script>\n")
    related = text.index("Related concepts")
    papers = text.index("Related papers")
    return Note(id="n", title="N", text=text.rstrip(), sections=[
        Section(title="Related concepts in this collection", start=related, content=text.index("-\n", related),
                name="related_concepts", count=1),
        Section(title="Related papers in this collection", start=papers, content=text.index("- A Paper"),
                name="related_papers", count=1),
    ])


def test_a_page_shows_each_section_under_its_heading_with_the_highlight_in_it():
    note = seed_like_note()
    mention = note.text.index("Other note title here\n")
    links = [(11, 32, "/notes/other"), (mention, mention + 21, "/notes/other")]
    quote = (note.text.index("how it"), note.text.index("*closely*") + 9)
    parts = note_sections_html(note, links, quote)
    assert [p["title"] for p in parts] == ["", "Related concepts in this collection", "Related papers in this collection"]
    body, concepts, papers = (str(p["html"]) for p in parts)
    assert '<a href="/notes/other">Other note title here</a>' in body
    # the heading and the page's navigation hints are the heading, not text
    assert "Related concepts" not in concepts and "Click a node" not in concepts
    assert '<div class="concept-title"><a href="/notes/other">Other note title here</a></div>' in concepts
    assert '<mark id="hl">how it relates <em>closely</em></mark>' in concepts
    assert "&lt;script&gt;" in papers and "<script>" not in papers
    assert sum(str(p["html"]).count('id="hl"') for p in parts) == 1
    for part in parts:
        assert parse(str(part["html"])).balanced
