"""The format registry: suffix → format, one parser each, and reading files follows it.

`FORMATS` is read when the package is imported (its lookups and `NOTE_SUFFIXES` are built from
it then), so a format added to a copy of the registry at run time is not picked up: adding one is
a module and a line in `FORMATS`. These tests pin the lookups, and that nothing outside the
registry decides which files are notes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.errors import NoteFormatError
from bot.notes.files import find_note_files
from bot.notes.formats import seed
from bot.notes.formats import text as plain
from bot.notes.formats import FORMATS, NOTE_SUFFIXES, format_for, format_named, parse_file

from ..conftest import ROOT, SEEDS


def test_the_registry_lists_each_format_once_with_one_way_to_parse():
    assert {"markdown", "text", "jsonl"} <= {f.name for f in FORMATS}
    assert len({f.name for f in FORMATS}) == len(FORMATS)
    assert NOTE_SUFFIXES == tuple(s for f in FORMATS for s in f.suffixes)  # in the registry's order
    assert {".md", ".markdown", ".txt", ".jsonl"} <= set(NOTE_SUFFIXES)
    assert len(set(NOTE_SUFFIXES)) == len(NOTE_SUFFIXES)  # a suffix belongs to one format
    for note_format in FORMATS:
        assert (note_format.parse is None) != (note_format.parse_lines is None), note_format.name
        assert note_format.streams == (note_format.parse_lines is not None)
        assert all(s.startswith(".") and s == s.lower() for s in note_format.suffixes)
        assert format_named(note_format.name) is note_format


@pytest.mark.parametrize("path, name", [
    ("a.md", "markdown"), ("dir/b.MARKDOWN", "markdown"), ("C.Md", "markdown"),
    ("notes.txt", "text"), ("x/y/z.TXT", "text"), ("corpus.jsonl", "jsonl"), (Path("p/q.JsonL"), "jsonl"),
])
def test_format_for_finds_a_format_by_suffix_whatever_its_case(path, name):
    assert format_for(path).name == name


@pytest.mark.parametrize("path", ["a.png", "README", "notes.md.bak", "a.zzz", ".md", "archive.tar.gz", "x."])
def test_anything_else_is_not_a_note_file(path):
    assert format_for(path) is None


def test_format_named_refuses_an_unknown_name():
    with pytest.raises(KeyError):
        format_named("docx")


def test_the_id_and_size_policies_are_the_registrys():
    assert format_named("jsonl").own_ids and format_named("jsonl").size_setting == "max_jsonl_bytes"
    assert not format_named("markdown").merge_same_title and format_named("text").merge_same_title
    assert {f.size_setting for f in FORMATS} <= {"max_note_bytes", "max_jsonl_bytes"}


def test_parse_file_dispatches_by_suffix():
    markdown = parse_file("---\ntitle: Front\ntags: [a]\n---\nBody text.", "n.md")
    assert (markdown.format, markdown.notes[0].title, markdown.notes[0].tags) == ("markdown", "Front", ["a"])
    plain = parse_file("Warmth\nTraining for warmth costs accuracy.", "a.txt")
    assert (plain.format, plain.notes[0].title) == ("text", "Warmth")
    lines = parse_file('{"_id": "d1", "title": "T", "text": "Body."}\n{"_id": "d2", "text": "More."}', "c.jsonl")
    assert lines.format == "jsonl" and [n.id for n in lines.notes] == ["d1", "d2"]


def test_a_txt_file_with_the_seed_markers_is_a_seed_page():
    for page in sorted(SEEDS.glob("*.txt"))[:5]:
        text = page.read_text(encoding="utf-8")
        parsed = parse_file(text, str(page))
        assert parsed.format == "text" and seed.is_seed_page(text)
        assert parsed.notes[0] == seed.parse_seed_page(text, str(page))
        assert parsed.notes[0] != plain.parse_plain_text(text, str(page))
    assert parse_file("Some title\nA body with no markers.", "p.txt").notes[0] == \
        plain.parse_plain_text("Some title\nA body with no markers.", "p.txt")


def test_a_file_with_no_text_after_its_title_is_refused():
    with pytest.raises(NoteFormatError, match="no text after the title"):
        parse_file("# Title only\n", "t.md")


def test_an_unknown_suffix_is_parsed_as_plain_text():
    assert parse_file("Title\nBody.", "notes.zzz").format == "text"


def test_reading_a_folder_follows_the_registry(tmp_path):
    """One file per registered suffix (and some that aren't): exactly the registered ones are found."""
    suffixes = NOTE_SUFFIXES + (".MD", ".png", ".zzz", "")
    for number, suffix in enumerate(suffixes):
        (tmp_path / f"file{number}{suffix}").write_text("x")
    found, skipped = find_note_files([tmp_path])
    assert sorted(p.suffix for p in found) == sorted(NOTE_SUFFIXES + (".MD",)) and skipped == []
    assert all(format_for(p) is not None for p in found)


def test_no_module_outside_the_registry_lists_note_suffixes():
    """What makes a format one line: nothing else in bot/ names the suffixes to decide what a note
    file is (docs and help text may mention them; code compares against the registry)."""
    pattern = re.compile(r"""(?:==|!=|\bin)\s*[\(\[\{]?\s*["']\.(?:md|markdown|txt|jsonl)["']""")
    offenders = []
    for path in (ROOT / "bot").rglob("*.py"):
        if path.is_relative_to(ROOT / "bot" / "notes" / "formats"):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if pattern.search(line) or re.search(r"""endswith\(\s*[\(]?["']\.(?:md|txt|jsonl)""", line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []



def test_doctests():
    import doctest

    import bot.notes.formats
    import bot.notes.formats.jsonl

    for module in (bot.notes.formats, bot.notes.formats.jsonl):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0, module.__name__
