"""bot.markdown: quotes as Markdown that keep the note's emphasis and its mentions of notes, and
nothing else from the note ever becomes markup."""

from __future__ import annotations

import doctest

import pytest
from markdown_it import MarkdownIt

import bot.markdown
from bot.markdown import blockquote, emphasis_spans, md_escape, md_quote


def html(markdown: str) -> str:
    """How a CommonMark renderer (markdown-it, as Gradio's chat uses) shows it, raw HTML off."""
    return MarkdownIt("commonmark", {"html": False}).render(markdown)


def test_doctests():
    assert doctest.testmod(bot.markdown).failed == 0


def test_balanced_emphasis_renders_as_emphasis_and_the_rest_literally():
    quote = "errors get *worse* when users are sad; **bold** claims, _this_ one, 2 * 3 * 4, snake_case_name"
    shown = html(md_quote(quote))
    assert "<em>worse</em>" in shown and "<strong>bold</strong>" in shown and "<em>this</em>" in shown
    assert "2 * 3 * 4" in shown and "snake_case_name" in shown


@pytest.mark.parametrize("quote", [
    "an *unclosed emphasis", "a closer only* here", "* a list-like star", "**half strong*", "*across\nlines*",
    "a * spaced * pair", "\\*already escaped\\*",
])
def test_emphasis_that_does_not_balance_shows_as_written(quote):
    shown = html(md_quote(quote))
    assert "<em>" not in shown and "<strong>" not in shown and "<li>" not in shown
    assert "*" in shown


def test_mentions_become_links_and_the_text_between_stays_verbatim():
    quote = ("when a user expresses sadness Does empathy training make AI systems less reliable? "
             "Does warmth training make language models less reliable?. [1]")
    first = quote.index("Does empathy")
    second = quote.index("Does warmth")
    links = [(first, first + 52, "/notes/empathy"), (second, second + 56, "/notes/warmth")]
    shown = html(md_quote(quote, links))
    assert shown.count("<a ") == 2
    assert '<a href="/notes/empathy">Does empathy training make AI systems less reliable?</a>' in shown
    assert "reliable?</a>. [1]" in shown  # "[1]" from the note stays text, not a link


@pytest.mark.parametrize("title", [
    "Is [this](javascript:alert(1)) a *title*?",
    "Can a note's <img src=x onerror=\"alert(1)\"> title run script?",
    "A title with ](/notes/evil) in it",
])
def test_a_mention_whose_title_holds_markdown_or_html_is_shown_as_text(title):
    quote = f"It cites {title} in passing <script>alert(2)</script>."
    start = quote.index(title)
    shown = html(md_quote(quote, [(start, start + len(title), "/notes/t")]))
    assert shown.count("<a ") == 1 and 'href="/notes/t"' in shown
    assert "<img" not in shown and "<script" not in shown and "javascript:" not in shown.split('href="')[1][:20]
    assert "<em>" not in shown  # emphasis inside a link's title shows as written


def test_emphasis_never_crosses_a_link():
    text = "a *half [link* text] b"
    assert emphasis_spans(text, [(8, 19)]) == []
    assert html(md_quote(text, [(8, 19, "/n")])).count("<em>") == 0


def test_blockquote_quotes_every_line():
    assert blockquote("- one *a*\n\n- two") == "> \\- one *a*\n> \\- two"
    assert md_escape("<b>") == "&lt;b&gt;"
