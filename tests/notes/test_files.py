"""Reading note files from disk: every file the bot won't read is skipped with a reason that names
the problem (never raised), and a JSON Lines file is read line by line."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bot.errors import NoteFormatError
from bot.notes.files import find_note_files, read_note_file, read_notes
from bot.notes.formats import NOTE_SUFFIXES
from bot.settings import Settings

from ..conftest import SEEDS


@pytest.fixture
def settings() -> Settings:
    return Settings()


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


# --- one file -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, data, reason", [
    ("png.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary file, not text"),
    ("nul.txt", b"Title\n\nText with a \x00 in it.", "binary file, not text"),
    ("latin1.md", "# Café\n\nCrème brûlée.".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 5)"),
    ("cp1252.txt", b"Smart \x93quotes\x94\n\nMore.", "not UTF-8 text (byte 0x93 at offset 6)"),
    ("empty.md", b"", "empty file"),
    ("spaces.txt", b"   \n\n\t  \r\n", "empty file (only whitespace)"),
    ("bom-only.md", b"\xef\xbb\xbf\n", "empty file (only whitespace)"),
    ("title-only.md", b"# Just a title\n", "no text after the title"),
    ("unclosed.md", b"---\ntitle: x\nBody without a closing fence.", "never closes"),
    ("yaml.md", b"---\ntitle: [oops\n---\nBody.", "malformed YAML front matter"),
    ("list.md", b"---\n- a\n- b\n---\nBody.", "front matter is not a mapping"),
])
def test_a_bad_file_raises_a_reason_naming_the_problem(tmp_path, settings, name, data, reason):
    with pytest.raises(NoteFormatError) as raised:
        read_note_file(write(tmp_path / name, data), settings)
    assert reason in str(raised.value)


def test_not_utf8_says_how_to_fix_it(tmp_path, settings):
    with pytest.raises(NoteFormatError, match="save it as UTF-8"):
        read_note_file(write(tmp_path / "a.md", b"caf\xe9"), settings)


def test_a_file_over_the_limit_names_its_size_and_the_setting(tmp_path):
    path = write(tmp_path / "big.md", "# Big\n\n" + "word " * 500_000)  # 2.5 MB
    with pytest.raises(NoteFormatError) as raised:
        read_note_file(path, Settings(max_note_bytes=1_000_000))
    assert str(raised.value) == "too large: 2.5 MB, over the 1.0 MB limit (BOT_MAX_NOTE_BYTES)"
    assert read_note_file(path, Settings(max_note_bytes=3_000_000)).notes[0].title == "Big"


def test_a_file_that_cant_be_read_says_so(tmp_path, settings):
    link = tmp_path / "gone.md"
    os.symlink(tmp_path / "missing.md", link)
    with pytest.raises(NoteFormatError, match="cannot be read"):
        read_note_file(link, settings)


def test_line_endings_and_a_bom_are_normalised(tmp_path, settings):
    crlf = read_note_file(write(tmp_path / "crlf.md", b"\xef\xbb\xbf# Tides\r\n\r\nThe moon.\r\nTwice a day.\r\n"),
                          settings)
    cr = read_note_file(write(tmp_path / "cr.md", b"# Tides\r\rThe moon.\rTwice a day.\r"), settings)
    lf = read_note_file(write(tmp_path / "lf.md", b"# Tides\n\nThe moon.\nTwice a day.\n"), settings)
    assert crlf.notes[0].text == cr.notes[0].text == lf.notes[0].text
    assert "\r" not in crlf.notes[0].text and crlf.notes[0].title == "Tides"


def test_a_seed_page_is_read_as_one(settings):
    page = sorted(SEEDS.glob("*.txt"))[0]
    parsed = read_note_file(page, settings)
    assert parsed.format == "text" and len(parsed.notes) >= 1 and parsed.notes[0].kind in {"note", "inquiry"}


# --- JSON Lines -----------------------------------------------------------------------------------


def jsonl(*records) -> str:
    return "\n".join(r if isinstance(r, str) else json.dumps(r) for r in records) + "\n"


def test_jsonl_is_read_line_by_line_and_a_bad_line_is_a_warning_naming_it(tmp_path, settings):
    path = write(tmp_path / "c.jsonl", jsonl(
        {"_id": "d1", "title": "First", "text": "One."},
        "{oops",
        "",
        ["not", "an", "object"],
        {"_id": "d2", "title": "No text"},
        {"_id": "d1", "title": "Again", "text": "A duplicate id."},
        {"_id": "d3", "title": "Third", "text": "Three.", "tags": ["x"]},
    ))
    parsed = read_note_file(path, settings)
    assert [(n.id, n.title) for n in parsed.notes] == [("d1", "First"), ("d3", "Third")]
    assert parsed.notes[1].tags == ["x"] and parsed.format == "jsonl"
    assert [w.split(":")[0] for w in parsed.warnings] == ["line 2", "line 4", "line 5", "line 6"]
    assert "not valid JSON" in parsed.warnings[0] and "duplicate _id 'd1'" in parsed.warnings[3]


def test_a_crlf_jsonl_file_reads_like_an_lf_one(tmp_path, settings):
    records = [{"_id": f"d{i}", "title": f"T{i}", "text": f"Text {i}.\nSecond line."} for i in range(3)]
    lf = read_note_file(write(tmp_path / "lf.jsonl", jsonl(*records)), settings)
    crlf = read_note_file(write(tmp_path / "crlf.jsonl", jsonl(*records).replace("\n", "\r\n")), settings)
    bom = read_note_file(write(tmp_path / "bom.jsonl", "\ufeff" + jsonl(*records)), settings)
    assert [n.model_dump(exclude={"source_path"}) for n in crlf.notes] == \
           [n.model_dump(exclude={"source_path"}) for n in lf.notes] == \
           [n.model_dump(exclude={"source_path"}) for n in bom.notes]
    assert not crlf.warnings and crlf.notes[0].text == "Text 0.\nSecond line."


def test_a_jsonl_line_over_the_note_limit_is_skipped_with_a_warning(tmp_path):
    path = write(tmp_path / "c.jsonl", jsonl({"_id": "big", "title": "B", "text": "x" * 5000},
                                             {"_id": "small", "title": "S", "text": "Small."}))
    parsed = read_note_file(path, Settings(max_note_bytes=1000))
    assert [n.id for n in parsed.notes] == ["small"]
    assert parsed.warnings == ["line 1: over the 1,000-byte limit for one note"]


def test_a_jsonl_file_has_its_own_size_limit(tmp_path):
    path = write(tmp_path / "c.jsonl", jsonl(*({"_id": str(i), "text": "x" * 100} for i in range(50))))
    with pytest.raises(NoteFormatError, match="BOT_MAX_JSONL_BYTES"):
        read_note_file(path, Settings(max_jsonl_bytes=1000, max_note_bytes=10**9))
    assert len(read_note_file(path, Settings(max_jsonl_bytes=10**9, max_note_bytes=1000)).notes) == 50


def test_a_jsonl_line_that_isnt_utf8_stops_the_file_with_its_offset(tmp_path, settings):
    good = (json.dumps({"_id": "a", "text": "Fine."}) + "\n").encode()
    bad = b'{"_id": "b", "text": "caf\xe9"}\n'
    path = write(tmp_path / "c.jsonl", good + bad)
    offset = len(good) + bad.index(b"\xe9")  # counted in the file, not the line
    with pytest.raises(NoteFormatError, match=f"byte 0xe9 at offset {offset}"):
        read_note_file(path, settings)


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"\n\n  \n", "empty file (only whitespace)"),
    (b'{"_id": "a", "text": "x"}\n\x00\x00\x00', "binary file, not text"),
])
def test_an_empty_or_binary_jsonl_file_is_refused(tmp_path, settings, data, reason):
    with pytest.raises(NoteFormatError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        read_note_file(write(tmp_path / "c.jsonl", data), settings)


def test_a_jsonl_file_of_only_bad_lines_is_read_with_its_warnings(tmp_path, settings):
    parsed = read_note_file(write(tmp_path / "c.jsonl", "{oops\n[1]\n"), settings)
    assert parsed.notes == [] and len(parsed.warnings) == 2


# --- a folder -------------------------------------------------------------------------------------


def test_a_folder_of_mixed_files(tmp_path, settings):
    root = tmp_path / "notes"
    write(root / "good.md", "# Good note\n\nIt is fine.\n")
    write(root / "plain.txt", "Plain note\n\nAlso fine.\n")
    write(root / "sub" / "deeper.markdown", "# Deeper\n\nNested two folders down.\n")
    write(root / "sub" / "lines.jsonl", jsonl({"_id": "j1", "title": "J", "text": "From a line."}, "{bad"))
    write(root / "binary.md", b"\x00\x01\x02")
    write(root / "latin1.txt", "Caf\xe9\n\nText.".encode("latin-1"))
    write(root / "empty.md", b"")
    write(root / "UPPER.MD", "# Upper case suffix\n\nStill Markdown.\n")
    write(root / "image.png", b"\x89PNG")          # not a note file: ignored in a folder
    write(root / "README", "no suffix")           # likewise
    write(root / ".hidden.md", "# Hidden\n\nA dotfile.\n")
    write(root / ".obsidian" / "workspace.md", "# Settings\n\nNot a note.\n")
    parsed, skipped, warnings = read_notes([root], settings)
    titles = sorted(n.title for p in parsed for n in p.notes)
    assert titles == ["Deeper", "Good note", "J", "Plain note", "Upper case suffix"]
    reasons = {Path(s.path).name: s.reason for s in skipped}
    assert reasons == {"binary.md": "binary file, not text", "empty.md": "empty file",
                       "latin1.txt": reasons["latin1.txt"]}
    assert reasons["latin1.txt"].startswith("not UTF-8 text")
    assert warnings == [f"{root / 'sub' / 'lines.jsonl'}: line 2: not valid JSON "
                        "(Expecting property name enclosed in double quotes)"]


def test_files_named_directly_are_read_or_skipped_with_a_reason(tmp_path, settings):
    note = write(tmp_path / "a.md", "# A\n\nText.\n")
    image = write(tmp_path / "b.png", b"\x89PNG")
    found, skipped = find_note_files([note, image, tmp_path / "missing-folder", tmp_path / "missing.md"])
    assert found == [note, tmp_path / "missing.md"]  # a missing note file is read, and fails, later
    assert [(Path(s.path).name, s.reason) for s in skipped] == [
        ("b.png", f"not a note file (expected one of {', '.join(NOTE_SUFFIXES)})"),
        ("missing-folder", "no such file or folder"),
    ]
    parsed, skipped, _ = read_notes([note, tmp_path / "missing.md"], settings)
    assert [p.notes[0].title for p in parsed] == ["A"] and "cannot be read" in skipped[0].reason


def test_a_folder_is_walked_in_a_stable_order_and_not_through_links(tmp_path, settings):
    root = tmp_path / "notes"
    for name in ("b.md", "a.md", "c/z.md", "c/a.md"):
        write(root / name, f"# {name}\n\nText of {name}.\n")
    elsewhere = tmp_path / "elsewhere"
    write(elsewhere / "outside.md", "# Outside\n\nNot under the folder.\n")
    os.symlink(elsewhere, root / "linked", target_is_directory=True)
    found, _ = find_note_files([root])
    assert [p.relative_to(root).as_posix() for p in found] == ["a.md", "b.md", "c/a.md", "c/z.md"]


def test_every_seed_page_is_read_without_a_skip(settings):
    parsed, skipped, _ = read_notes([SEEDS], settings)
    assert skipped == [] and len(parsed) == len(list(SEEDS.glob("*.txt")))
