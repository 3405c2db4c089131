"""Linear chunking: a note ten times longer takes about ten times as long to cut into chunks.

    .venv/bin/python bench/linear.py

Two shapes of one long note, made of the seed pages' own sentences: many short paragraphs
(a Markdown note with headings), and one paragraph on one line (a text export with no line
breaks: before the fix, every sentence summed the tokens of every sentence after it). Each
is cut at 1x and 10x its size by `segment_note` with the bundled model's real tokenizer,
then matched chunk to sentence as ingest does (`sentence_rows`). Times are CPU seconds of
this process (min of 3), so a busy machine stretches them less than wall time.
Writes bench/results/linear.json and linear.md.
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from common import ROOT, fmt, machine, markdown_table, write_result

from bot.models import Note
from bot.notes.chunks import segment_note, sentence_rows
from bot.settings import Settings

BASE_CHARS = 60_000


def seed_sentences() -> list[str]:
    text = " ".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "seeds").glob("*.txt")))
    return [s for s in re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", text)) if len(s) > 30]


def long_note(shape: str, chars: int, sentences: list[str]) -> Note:
    parts, size, i = [], 0, 0
    while size < chars:
        parts.append(sentences[i % len(sentences)])
        size += len(parts[-1]) + 1
        i += 1
    if shape == "one paragraph":
        text = " ".join(parts)
    else:  # a heading every 40 sentences, a paragraph every 4
        blocks = []
        for start in range(0, len(parts), 4):
            if start % 40 == 0:
                blocks.append(f"## Part {start // 40 + 1}")
            blocks.append(" ".join(parts[start:start + 4]))
        text = "\n\n".join(blocks)
    return Note(id=f"long-{shape.replace(' ', '-')}-{chars}", title="A long note", text=text)


def cut(note: Note, count_tokens) -> tuple[float, int, int]:
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        segments = segment_note(note, count_tokens)
        sentence_rows(segments.chunks, segments.sentences)
        best = min(best, time.process_time() - started)
    return best, len(segments.sentences), len(segments.chunks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=BASE_CHARS, help="size of the 1x note, in characters")
    args = parser.parse_args(argv)
    from bot.index.embedder import Embedder

    embedder = Embedder.load(Settings(), use_cache=False)
    sentences = seed_sentences()
    rows, figures = [], []
    for shape in ("paragraphs", "one paragraph"):
        small = cut(long_note(shape, args.chars, sentences), embedder.count_tokens)
        large = cut(long_note(shape, 10 * args.chars, sentences), embedder.count_tokens)
        ratio = large[0] / small[0]
        figures.append({"shape": shape, "chars": args.chars, "seconds_1x": small[0], "seconds_10x": large[0],
                        "sentences_1x": small[1], "sentences_10x": large[1], "chunks_1x": small[2],
                        "chunks_10x": large[2], "ratio": round(ratio, 2)})
        rows.append([shape, f"{args.chars:,} / {10 * args.chars:,}", f"{small[1]:,} / {large[1]:,}",
                     f"{small[2]:,} / {large[2]:,}", f"{fmt(small[0], 3)} / {fmt(large[0], 3)}", fmt(ratio, 2)])
    table = markdown_table(["note", "characters 1x / 10x", "sentences", "chunks", "CPU s 1x / 10x", "10x / 1x"], rows)
    markdown = (table + "\n\n`segment_note` and `sentence_rows` on one long note made of the seed pages' "
                "sentences, with the bundled model's tokenizer; CPU seconds, min of 3. Linear means a ratio near 10.\n")
    write_result("linear", {"machine": machine(), "results": figures}, markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
