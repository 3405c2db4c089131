"""Check bench/seed_questions.yaml and bench/synthesis_cases.yaml against the seed pages.

    .venv/bin/python bench/check_seed_questions.py [--seeds DIR] [--questions F] [--synthesis F] [-v]

Parses the seeds with the bot's own parser (bot.notes: parse_file, build_notes,
resolve_links), so every expected note id is one the bot really produces, and checks:

seed_questions.yaml
  * fields, categories and sections are valid; ids are unique;
  * every evidence string occurs in the seed files (whitespace collapsed, case kept), and in
    `expect` or an `also_ok` note; `expect` and every `also_ok` note hold at least one of
    them, and every note holding one of them is `expect` or `also_ok` (a page note's extent
    is its whole seed file, every section; a source note's is its summary, the text the
    parser gives it);
  * the proportions issue 11 asks for: at least 60 questions, at least a third (and >= 20)
    about sections other than the body, at least a third (and >= 20) paraphrases, at least
    8 off-topic, at least 6 follow-up pairs, and the issue's own examples;
  * paraphrase word overlap: the share of a paraphrase's content words (crudely stemmed)
    that occur in its note's title or text; printed, and over OVERLAP_LIMIT is an error.

synthesis_cases.yaml
  * every case names an answerable question; every cited evidence string is in its note;
  * a faithful sentence's numbers (years, percentages, arXiv ids, counts in digits or
    words from two to twelve) all occur in the passage it cites (the seed line holding
    the evidence);
  * an altered_number sentence has a number its cited passage lacks;
  * an invented_detail with numbers has one its cited passage lacks;
  * unsupported_claim gives `true_source`, swapped_citation gives `right`, each a passage
    other than the one cited (printed with -v when that text also sits elsewhere in the
    cited note, e.g. in a page's Sources list);
  * a faithful sentence is no near-copy: its longest run of words shared with the cited
    passage, outside double-quoted spans, is at most NEAR_COPY_RUN words;
  * at least 30 cases, 100 faithful sentences, 100 errors, 2-4 errors per case.

Exits 1 when anything fails, printing every problem.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.notes.collection import build_notes# noqa: E402
from bot.notes.formats import parse_file
from bot.notes.links import resolve_links

CATEGORIES = {"body", "section", "paraphrase", "offtopic"}
SECTIONS = {
    "research_prompt_finding",
    "anchor_paper",
    "related_concepts",
    "related_papers",
    "next_inquiring_lines",
    "sources",
    "original_title",
}
ERROR_TYPES = {"altered_number", "negation", "unsupported_claim", "swapped_citation", "invented_detail"}
ISSUE_EXAMPLES = ("What is the arXiv id of the RLVER paper?", "What signal does RLVER use as its reward?")
OVERLAP_LIMIT = 0.34
NEAR_COPY_RUN = 7

STOPWORDS = set(
    """a an the and or but if of to in on at by for with from as is are was were be been being do
    does did done doing have has had having it its it's this that these those there their they them
    i me my you your we our he she his her what which who whom whose why how when where whether
    can could would should will shall may might must not no nor so than then too very just only
    about into over under again further once any all both each few more most other some such own
    same up down out off also even get got make made much many one two rather instead yet still
    something someone anything thing things way really actually already before after while because
    well truly like just per without within""".split()
)


def norm(text: str) -> str:
    return " ".join(text.split())


def stem(word: str) -> str:
    word = word.lower().strip("'’")
    for suffix in ("ational", "ations", "ation", "ities", "ility", "ically", "ness", "ments", "ment",
                   "ings", "ing", "ies", "ied", "ers", "ed", "es", "er", "ly", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            word = word[: -len(suffix)]
            break
    return word[:6]


def content_stems(text: str) -> set[str]:
    words = re.findall(r"[A-Za-z][A-Za-z'’-]*", text)
    stems = set()
    for word in words:
        for part in word.split("-"):
            if len(part) >= 3 and part.lower() not in STOPWORDS:
                stems.add(stem(part))
    return stems


NUMBER = re.compile(r"\d+(?:\.\d+)*")
# counts written as words ("six LLMs", "Five models"); "one" is left out, it is mostly a pronoun
NUMBER_WORDS = {
    word: str(value)
    for value, word in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve".split()
    )
    if word != "_"
} | {"twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "hundred": "100"}
NUMBER_WORD = re.compile(r"\b(" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


def numbers(text: str) -> set[str]:
    found = set(NUMBER.findall(text))
    found |= {NUMBER_WORDS[m.group(1).lower()] for m in NUMBER_WORD.finditer(text)}
    return found


class Seeds:
    def __init__(self, seeds_dir: Path) -> None:
        paths = sorted(seeds_dir.glob("*.txt"))
        if not paths:
            raise SystemExit(f"no seed pages in {seeds_dir}")
        self.raw = {str(p): p.read_text(encoding="utf-8") for p in paths}
        notes = resolve_links(build_notes([parse_file(text, path) for path, text in self.raw.items()]))
        self.notes = {n.id: n for n in notes}
        self.all_text = norm("\n".join(self.raw.values()))
        self.extent: dict[str, str] = {}
        self.lines: dict[str, list[str]] = {}
        for note in notes:
            if note.kind == "source":
                self.extent[note.id] = norm(note.text)
                self.lines[note.id] = [norm(note.text)]
            else:
                raw = self.raw[note.source_path]
                self.extent[note.id] = norm(raw)
                self.lines[note.id] = [norm(line) for line in raw.splitlines() if line.strip()]

    def holds(self, note_id: str, evidence: str) -> bool:
        return norm(evidence) in self.extent.get(note_id, "")

    def passage(self, note_id: str, evidence: str) -> str | None:
        """The seed line (a paragraph, a list item, a finding) of the note holding the evidence."""
        ev = norm(evidence)
        lines = self.lines.get(note_id, [])
        for width in (1, 2, 3):
            for i in range(len(lines) - width + 1):
                joined = " ".join(lines[i : i + width])
                if ev in joined:
                    return joined
        return None

    def note_words(self, note_id: str) -> set[str]:
        note = self.notes[note_id]
        return content_stems(note.title + " " + self.extent[note_id])


class Report:
    def __init__(self) -> None:
        self.problems: list[str] = []

    def fail(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")


def check_questions(data: dict, seeds: Seeds, report: Report, verbose: bool) -> dict[str, dict]:
    questions = data.get("questions") or []
    by_id: dict[str, dict] = {}
    counts: Counter = Counter()
    sections: Counter = Counter()
    overlaps: list[tuple[float, str, str]] = []
    for q in questions:
        qid = q.get("id", "?")
        if qid in by_id:
            report.fail(qid, "duplicate id")
        by_id[qid] = q
        for key in ("question", "category", "section", "expect"):
            if not q.get(key):
                report.fail(qid, f"missing {key}")
        category, section = q.get("category"), q.get("section")
        counts[category] += 1
        if category not in CATEGORIES:
            report.fail(qid, f"unknown category {category!r}")
        if category == "section":
            sections[section] += 1
            if section not in SECTIONS:
                report.fail(qid, f"unknown section {section!r}")
        elif section != "body":
            report.fail(qid, f"category {category} must have section body, not {section!r}")
        if category == "offtopic":
            if q.get("expect") != "abstain":
                report.fail(qid, "an off-topic question must expect: abstain")
            if q.get("evidence"):
                report.fail(qid, "an off-topic question has no evidence")
            continue
        check_expectation(qid, q.get("expect"), q.get("also_ok") or [], q.get("evidence") or [], seeds, report)
        if category == "paraphrase" and q.get("expect") in seeds.notes:
            words = content_stems(q["question"])
            shared = words & seeds.note_words(q["expect"])
            share = len(shared) / max(1, len(words))
            overlaps.append((share, qid, ", ".join(sorted(shared))))
            if share > OVERLAP_LIMIT:
                report.fail(qid, f"paraphrase shares {share:.0%} of its content words with its note ({sorted(shared)})")

    follow_ups = data.get("follow_ups") or []
    for f in follow_ups:
        fid = f.get("id", "?")
        first = f.get("first") or {}
        check_expectation(
            fid + ".first", first.get("expect"), [], first.get("evidence") or [], seeds, report, complete=False
        )
        adds = f.get("adds") or {}
        if not f.get("follow_up"):
            report.fail(fid, "missing follow_up")
        add_notes, add_evidence = adds.get("notes") or [], adds.get("evidence") or []
        if not add_notes or not add_evidence:
            report.fail(fid, "adds needs notes and evidence")
        for ev in add_evidence:
            if norm(ev) not in seeds.all_text:
                report.fail(fid, f"adds evidence not in the seeds: {ev!r}")
            elif not any(seeds.holds(n, ev) for n in add_notes):
                report.fail(fid, f"adds evidence in none of its notes: {ev!r}")
        for n in add_notes:
            if n not in seeds.notes:
                report.fail(fid, f"unknown note id {n!r}")
            elif not any(seeds.holds(n, ev) for ev in add_evidence):
                report.fail(fid, f"adds note {n} holds none of the evidence")
        if "nothing_new_ok" not in f:
            report.fail(fid, "missing nothing_new_ok")

    total = len(questions)
    answerable = total - counts["offtopic"]
    if total < 60:
        report.fail("set", f"{total} questions, need at least 60")
    for category in ("section", "paraphrase"):
        if counts[category] < max(20, total / 3):
            report.fail("set", f"{counts[category]} {category} questions, need at least a third of {total} and 20")
    if counts["offtopic"] < 8:
        report.fail("set", f"{counts['offtopic']} off-topic questions, need at least 8")
    if len(follow_ups) < 6:
        report.fail("set", f"{len(follow_ups)} follow-up pairs, need at least 6")
    asked = {q.get("question") for q in questions}
    for example in ISSUE_EXAMPLES:
        if example not in asked:
            report.fail("set", f"issue example missing: {example!r}")
    if not any(q.get("section") == "related_concepts" for q in questions):
        report.fail("set", "no related-concepts question")
    if not any(q.get("section") in ("research_prompt_finding", "anchor_paper") for q in questions):
        report.fail("set", "no research-prompt question")

    print(f"questions: {total} ({answerable} answerable)  " + "  ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print("  section questions by section: " + "  ".join(f"{k} {v}" for k, v in sorted(sections.items())))
    print(f"  follow-up pairs: {len(follow_ups)}")
    if overlaps:
        shares = [s for s, _, _ in overlaps]
        print(
            f"  paraphrase word overlap with the note: mean {sum(shares) / len(shares):.0%}, "
            f"max {max(shares):.0%} (limit {OVERLAP_LIMIT:.0%})"
        )
        if verbose:
            for share, qid, shared in sorted(overlaps, reverse=True):
                print(f"    {qid} {share:4.0%}  {shared}")
    return by_id


def check_expectation(
    where: str, expect, also_ok: list, evidence: list, seeds: Seeds, report: Report, complete: bool = True
) -> None:
    if expect not in seeds.notes:
        report.fail(where, f"expect {expect!r} is not a note id the parser produces")
        return
    if not evidence:
        report.fail(where, "no evidence")
        return
    allowed = [expect, *also_ok]
    for note_id in also_ok:
        if note_id not in seeds.notes:
            report.fail(where, f"also_ok {note_id!r} is not a note id the parser produces")
    for ev in evidence:
        if norm(ev) not in seeds.all_text:
            report.fail(where, f"evidence not in the seed files: {ev!r}")
        elif not any(seeds.holds(n, ev) for n in allowed if n in seeds.notes):
            report.fail(where, f"evidence in none of expect/also_ok: {ev!r}")
    for note_id in allowed:
        if note_id in seeds.notes and not any(seeds.holds(note_id, ev) for ev in evidence):
            report.fail(where, f"{note_id} holds none of the evidence")
    if complete:  # a question's also_ok names every other note holding its evidence
        holders = {n for n in seeds.notes for ev in evidence if seeds.holds(n, ev)}
        for note_id in sorted(holders - set(allowed)):
            report.fail(where, f"{note_id} holds an evidence string but is neither expect nor also_ok")


def longest_shared_run(sentence: str, passage: str) -> int:
    unquoted = re.sub(r'"[^"]*"', " ", sentence)
    a = re.findall(r"[a-z0-9]+", unquoted.lower())
    b = re.findall(r"[a-z0-9]+", passage.lower())
    best = 0
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def check_cites(where: str, cites, seeds: Seeds, report: Report) -> list[str]:
    """Each cite {note, evidence} is valid; returns the cited passages."""
    passages = []
    if isinstance(cites, dict):
        cites = [cites]
    if not cites:
        report.fail(where, "no cites")
    for cite in cites or []:
        note_id, ev = cite.get("note"), cite.get("evidence", "")
        if note_id not in seeds.notes:
            report.fail(where, f"unknown note id {note_id!r}")
            continue
        passage = seeds.passage(note_id, ev)
        if passage is None:
            report.fail(where, f"evidence not in {note_id}: {ev!r}")
            continue
        passages.append(passage)
    return passages


def check_synthesis(data: dict, questions: dict[str, dict], seeds: Seeds, report: Report, verbose: bool) -> None:
    cases = data.get("cases") or []
    faithful_total = 0
    errors: Counter = Counter()
    runs: list[int] = []
    warnings: list[str] = []
    seen = set()
    for case in cases:
        cid = case.get("id", "?")
        if cid in seen:
            report.fail(cid, "duplicate id")
        seen.add(cid)
        q = questions.get(case.get("question_id"))
        if q is None or q.get("category") == "offtopic":
            report.fail(cid, f"question_id {case.get('question_id')!r} is not an answerable seed question")
        elif case.get("question") != q.get("question"):
            report.fail(cid, "question text differs from seed_questions.yaml")
        faithful = case.get("faithful") or []
        if not 1 <= len(faithful) <= 3:
            report.fail(cid, f"{len(faithful)} faithful sentences, want 1-3")
        for i, sentence in enumerate(faithful):
            where = f"{cid}.faithful[{i}]"
            text = sentence.get("text", "")
            passages = check_cites(where, sentence.get("cites"), seeds, report)
            faithful_total += 1
            if passages:
                joined = " ".join(passages)
                missing = numbers(text) - numbers(joined)
                if missing:
                    report.fail(where, f"numbers not in the cited passage: {sorted(missing)}")
                run = max(longest_shared_run(text, p) for p in passages)
                runs.append(run)
                if run > NEAR_COPY_RUN:
                    report.fail(where, f"near-copy: shares a run of {run} words with the passage")
        errs = case.get("errors") or []
        if not 2 <= len(errs) <= 4:
            report.fail(cid, f"{len(errs)} error sentences, want 2-4")
        for i, err in enumerate(errs):
            where = f"{cid}.errors[{i}]"
            kind = err.get("type")
            errors[kind] += 1
            if kind not in ERROR_TYPES:
                report.fail(where, f"unknown error type {kind!r}")
            if not err.get("why"):
                report.fail(where, "missing why")
            text = err.get("text", "")
            passages = check_cites(where, err.get("cites"), seeds, report)
            if kind == "altered_number" and passages:
                if not numbers(text) - numbers(" ".join(passages)):
                    report.fail(where, "altered_number but every number is in the cited passage")
            if kind in ("unsupported_claim", "swapped_citation"):
                key = "true_source" if kind == "unsupported_claim" else "right"
                other = err.get(key)
                if not other:
                    report.fail(where, f"{kind} needs {key}")
                    continue
                right = check_cites(where + "." + key, other, seeds, report)
                if right and passages and set(right) & set(passages):
                    report.fail(where, f"{key} is the same passage as the one cited")
                others = other if isinstance(other, list) else [other]
                for cite in err.get("cites") or []:
                    for o in others:
                        if o.get("note") != cite.get("note") and seeds.holds(cite.get("note"), o.get("evidence", "")):
                            warnings.append(
                                f"{where}: the {key} text also appears elsewhere in the cited note "
                                f"{cite.get('note')} (e.g. its Sources list), though not in the cited passage"
                            )
            if kind == "invented_detail" and passages and numbers(text):
                if not numbers(text) - numbers(" ".join(passages)):
                    report.fail(where, "invented_detail: every number in it is in the cited passage")
    n_errors = sum(errors.values())
    if len(cases) < 30:
        report.fail("synthesis", f"{len(cases)} cases, need at least 30")
    if faithful_total < 100:
        report.fail("synthesis", f"{faithful_total} faithful sentences, need at least 100")
    if n_errors < 100:
        report.fail("synthesis", f"{n_errors} error sentences, need at least 100")
    print(f"synthesis cases: {len(cases)}  faithful sentences {faithful_total}  error sentences {n_errors}")
    print("  errors by type: " + "  ".join(f"{k} {v}" for k, v in sorted(errors.items())))
    if runs:
        print(f"  faithful vs cited passage, longest shared word run: mean {sum(runs) / len(runs):.1f}, max {max(runs)}")
    if verbose:
        for warning in warnings:
            print("  note: " + warning)
        print("  run histogram: " + "  ".join(f"{k}:{v}" for k, v in sorted(Counter(runs).items())))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--questions", type=Path, default=ROOT / "bench" / "seed_questions.yaml")
    parser.add_argument("--synthesis", type=Path, default=ROOT / "bench" / "synthesis_cases.yaml")
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()

    seeds = Seeds(args.seeds)
    report = Report()
    print(f"seed notes: {len(seeds.notes)} ({Counter(n.kind for n in seeds.notes.values())})")
    questions = check_questions(yaml.safe_load(args.questions.read_text(encoding="utf-8")), seeds, report, args.verbose)
    if args.synthesis.exists():
        check_synthesis(yaml.safe_load(args.synthesis.read_text(encoding="utf-8")), questions, seeds, report, args.verbose)
    else:
        report.fail("synthesis", f"{args.synthesis} not found")
    if report.problems:
        print(f"\n{len(report.problems)} problem(s):")
        for problem in report.problems:
            print("  " + problem)
        return 1
    print("\nall checks pass")
    return 0


if __name__ == "__main__":
    sys.exit(main())
