"""The seed question set (bench/seed_questions.yaml) through the real answer path, scored.

    .venv/bin/python bench/seed_questions.py [--questions F] [--data-dir D] [--only s01,b01] [-v]

Every question goes through `Bot.respond` (what `bot.ask`, the chat and `POST /api/ask` run)
on an index of `seeds/`, and every follow-up pair is asked as a conversation (the follow-up
sent with the first answer as `history`). Scored (see the YAML's header):

    hit (strict)      a citation of the `expect` note whose quote holds an evidence string
    hit (lenient)     the same, from `expect` or an `also_ok` note
    hit@1             the same, counting only the quotes numbered [1]
    false abstention  an answerable question answered with "None of the notes address this."
    correct abstention / false answer   an off-topic question abstained / answered
    follow-ups        did the follow-up add a passage the first answer had not shown, and one
                      holding the expected new evidence; or say there was nothing new
    source following  each quoted inquiry passage that cites notes inline (by title): is a cited
                      note quoted first or right beside it (numbers n-1, n+1)?

Each run is made twice in one process, "before" (AnswerParams with source following and
follow-up novelty switched off: the answer path as it was) and "after" (the defaults), so the
figures compare on the same index at the same moment. Writes bench/results/seed_questions.json
and seed_questions.md. The scoring functions are pure: tests/query/test_seed_questions.py runs
them on a few questions end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections import defaultdict
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "bench" / "seed_questions.yaml"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bot.query.followups import shown_passages  # noqa: E402
from bot.query.params import DEFAULT_ANSWER_PARAMS, AnswerParams  # noqa: E402

CATEGORIES = ("body", "section", "paraphrase", "offtopic")


def norm(text: str) -> str:
    """Whitespace collapsed: how evidence strings are compared (the YAML's header)."""
    return " ".join(text.split())


def holds(quote: str, evidence: list[str]) -> bool:
    """The quote contains one of the evidence strings (whitespace collapsed, case kept)."""
    quote = norm(quote)
    return any(norm(e) in quote for e in evidence)


def before_params(params: AnswerParams = DEFAULT_ANSWER_PARAMS) -> AnswerParams:
    """The answer path without this issue's source following and follow-up novelty."""
    switches = {f.name: False for f in dataclasses.fields(params) if f.name in ("follow_sources", "follow_up_novelty")}
    return dataclasses.replace(params, **switches)


# --- scoring one answer (pure) ---------------------------------------------------------------


def citations_of(answer) -> list[dict]:
    """An Answer's citations as plain dicts (what the scoring reads)."""
    return [{"n": c.n, "note_id": c.note_id, "quote": c.quote, "start": c.start, "end": c.end}
            for c in answer.citations]


def score_question(question: dict, citations: list[dict], abstained: bool, topic_only: bool = False) -> dict:
    """How one answer fares against its question's `expect`, `also_ok` and `evidence` (pure).

        >>> q = {"id": "x", "category": "body", "expect": "a", "also_ok": ["b"], "evidence": ["red"]}
        >>> s = score_question(q, [{"n": 1, "note_id": "b", "quote": "It is red."},
        ...                        {"n": 2, "note_id": "a", "quote": "Red, it is red."}], False)
        >>> (s["strict"], s["lenient"], s["strict_at_1"], s["lenient_at_1"])
        (True, True, False, True)
    """
    offtopic = question["category"] == "offtopic"
    result = {"id": question["id"], "category": question["category"],
              "section": question.get("section", "body"), "abstained": abstained, "topic_only": topic_only,
              "cited": list(dict.fromkeys(c["note_id"] for c in citations))}
    if offtopic:
        result.update(correct_abstention=abstained, false_answer=not abstained)
        return result
    evidence = question["evidence"]
    strict_notes = {question["expect"]}
    lenient_notes = strict_notes | set(question.get("also_ok", []))
    first = [c for c in citations if c["n"] == 1]

    def hit(pool: list[dict], notes: set[str]) -> bool:
        return any(c["note_id"] in notes and holds(c["quote"], evidence) for c in pool)

    result.update(
        strict=hit(citations, strict_notes), lenient=hit(citations, lenient_notes),
        strict_at_1=hit(first, strict_notes), lenient_at_1=hit(first, lenient_notes),
        false_abstention=abstained,
    )
    return result


def summarise(scores: list[dict], key: str = "category") -> dict[str, dict]:
    """Counts and rates per category (or section), and over all answerable questions (pure)."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for s in scores:
        groups[s[key]].append(s)
        if s["category"] != "offtopic":
            groups["all answerable"].append(s)
    table = {}
    for name, group in groups.items():
        row: dict = {"questions": len(group)}
        if group[0]["category"] == "offtopic" and name != "all answerable":
            row["correct_abstentions"] = sum(s["correct_abstention"] for s in group)
            row["false_answers"] = sum(s["false_answer"] for s in group)
        else:
            for metric in ("strict", "lenient", "strict_at_1", "lenient_at_1"):
                row[metric] = round(sum(s[metric] for s in group) / len(group), 3)
            row["false_abstentions"] = sum(s["false_abstention"] for s in group)
            row["topic_only_strict"] = sum(s.get("topic_only", False) and s["strict"] for s in group)
        row["topic_only"] = sum(s.get("topic_only", False) for s in group)
        table[name] = row
    return table


# --- follow-ups (pure) -----------------------------------------------------------------------


def overlaps(citation: dict, spans: list[tuple[str, int, int]]) -> bool:
    return any(citation["note_id"] == note and citation["start"] < end and start < citation["end"]
               for note, start, end in spans)


def score_follow_up(pair: dict, first: dict, first_answer_markdown: str, follow_citations: list[dict],
                    follow_abstained: bool, said_nothing_new: bool) -> dict:
    """Did the follow-up add a passage the first answer had not shown, and the expected one? (pure)

    `first` is `score_question`'s result for the first turn. A follow-up quote is new when it
    overlaps no passage the first answer linked to; `adds` holds when a new quote from one of
    `adds.notes` holds one of `adds.evidence`; `ok` when it adds that, or (for a pair marked
    `nothing_new_ok`) says there is nothing new.
    """
    shown = shown_passages(first_answer_markdown)
    new = [c for c in follow_citations if not overlaps(c, shown)]
    repeated = len(follow_citations) - len(new)
    adds = pair["adds"]
    adds_hit = any(c["note_id"] in adds["notes"] and holds(c["quote"], adds["evidence"]) for c in new)
    ok = adds_hit or (bool(pair.get("nothing_new_ok")) and said_nothing_new)
    return {"id": pair["id"], "first_strict": first["strict"], "first_lenient": first["lenient"],
            "follow_up_abstained": follow_abstained, "said_nothing_new": said_nothing_new,
            "quotes": len(follow_citations), "new_quotes": len(new), "repeated_quotes": repeated,
            "adds_new_passage": bool(new), "adds_expected": adds_hit, "ok": ok}


# --- source following (pure) -----------------------------------------------------------------


def source_following(citations: list[dict], link_spans: dict[str, list[tuple[int, int, str]]],
                     kinds: dict[str, str]) -> list[dict]:
    """For each quoted inquiry passage that names other notes inline: is one of them quoted
    first or right beside it (numbered n-1 or n+1), anywhere, or not at all? (pure)

    `link_spans` maps a note id to its inline citations (start, end, target note id), as
    `Note.link_spans` holds them; `kinds` maps note ids to kinds.
    """
    numbers: dict[str, int] = {}
    for c in citations:
        numbers.setdefault(c["note_id"], c["n"])
    cases = []
    for c in citations:
        if kinds.get(c["note_id"]) != "inquiry":
            continue
        named = [t for s, e, t in link_spans.get(c["note_id"], []) if c["start"] <= s and e <= c["end"]]
        named = list(dict.fromkeys(t for t in named if t != c["note_id"]))
        if not named:
            continue
        positions = [numbers[t] for t in named if t in numbers]
        cases.append({
            "inquiry": c["note_id"], "n": c["n"], "names": named,
            "first_or_beside": any(p == 1 or abs(p - c["n"]) == 1 for p in positions),
            "cited": bool(positions),
        })
    return cases


def direct_source(question: dict, citations: list[dict], link_spans: dict[str, list[tuple[int, int, str]]],
                  kinds: dict[str, str]) -> dict | None:
    """For a question whose `expect` note is cited inline by an inquiry the answer quotes (an
    `also_ok` inquiry paraphrasing it, naming it inside the quoted passage): is `expect`, the
    direct source, quoted first or right beside that inquiry? None when no quoted inquiry
    names `expect` (pure)."""
    expect = question.get("expect")
    if question["category"] == "offtopic" or not expect:
        return None
    citing = [c for c in citations
              if kinds.get(c["note_id"]) == "inquiry" and c["note_id"] != expect
              and any(t == expect and c["start"] <= s and e <= c["end"] for s, e, t in link_spans.get(c["note_id"], []))]
    if not citing:
        return None
    at = next((c["n"] for c in citations if c["note_id"] == expect), None)
    return {"id": question["id"], "source": expect, "inquiry": citing[0]["note_id"], "inquiry_n": citing[0]["n"],
            "source_n": at, "first_or_beside": at is not None and (at == 1 or any(abs(at - c["n"]) == 1 for c in citing))}


# --- running it ------------------------------------------------------------------------------


def nothing_new(markdown: str) -> bool:
    """The answer says a follow-up found nothing new (compose's NOTHING_NEW, when it exists)."""
    from bot.query import compose

    phrase = getattr(compose, "NOTHING_NEW", None)
    return bool(phrase) and markdown.startswith(phrase)


def topic_only(markdown: str) -> bool:
    """The answer says no passage answers outright and points at the closest notes (compose's TOPIC_ONLY)."""
    from bot.query import compose

    phrase = getattr(compose, "TOPIC_ONLY", None)
    return bool(phrase) and markdown.startswith(phrase)


def run_questions(bot, questions: list[dict], params: AnswerParams) -> tuple[list[dict], list[dict], list[dict]]:
    """Every question through `bot.respond`; (scores, source-following cases, direct-source cases)."""
    link_spans, kinds = note_links(bot.snapshot)
    scores, cases, direct = [], [], []
    for question in questions:
        answer = bot.respond(question["question"], params=params).answer
        citations = citations_of(answer)
        score = score_question(question, citations, answer.abstained, topic_only(answer.answer))
        score["answer"] = answer.answer
        scores.append(score)
        for case in source_following(citations, link_spans, kinds):
            cases.append({"id": question["id"], **case})
        case = direct_source(question, citations, link_spans, kinds)
        if case:
            direct.append(case)
    return scores, cases, direct


SPEC_FIRST: dict[str, str] = {}  # pair id -> its first question, for the report


def run_follow_ups(bot, pairs: list[dict], params: AnswerParams) -> list[dict]:
    results = []
    for pair in pairs:
        SPEC_FIRST[pair["id"]] = pair["first"]["question"]
        first_q = {"id": pair["id"], "category": "body", **pair["first"]}
        first = bot.respond(first_q["question"], params=params).answer
        first_score = score_question(first_q, citations_of(first), first.abstained)
        history = [{"role": "user", "content": first_q["question"]},
                   {"role": "assistant", "content": first.answer}]
        follow = bot.respond(pair["follow_up"], history, params=params).answer
        result = score_follow_up(pair, first_score, first.answer, citations_of(follow), follow.abstained,
                                 nothing_new(follow.answer))
        result.update(first_answer=first.answer, follow_up=pair["follow_up"], follow_up_answer=follow.answer)
        results.append(result)
    return results


def note_links(snapshot) -> tuple[dict[str, list[tuple[int, int, str]]], dict[str, str]]:
    links = {n.id: [(s.start, s.end, s.note_id) for s in n.link_spans] for n in snapshot.notes}
    return links, {n.id: n.kind for n in snapshot.notes}


def following_summary(cases: list[dict]) -> dict:
    total = len(cases)
    return {"inquiry_quotes_citing_notes": total,
            "source_first_or_beside": sum(c["first_or_beside"] for c in cases),
            "source_cited": sum(c["cited"] for c in cases),
            "share_first_or_beside": round(sum(c["first_or_beside"] for c in cases) / total, 3) if total else None}


def follow_up_summary(results: list[dict]) -> dict:
    n = len(results) or 1
    return {"pairs": len(results),
            "added_a_new_passage": sum(r["adds_new_passage"] for r in results),
            "added_the_expected_evidence": sum(r["adds_expected"] for r in results),
            "said_nothing_new": sum(r["said_nothing_new"] for r in results),
            "ok": sum(r["ok"] for r in results),
            "repeated_quotes": sum(r["repeated_quotes"] for r in results),
            "quotes": sum(r["quotes"] for r in results),
            "ok_share": round(sum(r["ok"] for r in results) / n, 3)}


def evaluate(bot, spec: dict, params: AnswerParams) -> dict:
    """Every question and follow-up pair of `spec` with these params, scored and summarised."""
    scores, cases, direct = run_questions(bot, spec["questions"], params)
    follow_ups = run_follow_ups(bot, spec.get("follow_ups", []), params)
    return {
        "by_category": summarise(scores, "category"),
        "by_section": summarise([s for s in scores if s["category"] == "section"], "section"),
        "source_following": following_summary(cases),
        "direct_source": {"questions": len(direct), "first_or_beside": sum(c["first_or_beside"] for c in direct),
                          "cited": sum(c["source_n"] is not None for c in direct)},
        "direct_source_cases": direct,
        "follow_ups": follow_up_summary(follow_ups),
        "questions": scores,
        "source_cases": cases,
        "follow_up_pairs": follow_ups,
    }


# --- the report ------------------------------------------------------------------------------


def _pct(value) -> str:
    return "-" if value is None else f"{100 * value:.0f}%"


def markdown(before: dict, after: dict, meta: dict) -> str:
    from common import markdown_table

    lines = ["# Seed question set", "",
             f"{meta['questions']} questions and {meta['pairs']} follow-up pairs from bench/seed_questions.yaml, "
             f"asked through `Bot.respond` on an index of seeds/ ({meta['notes']} notes); {meta['date']}, "
             f"{meta['seconds']:.0f} s for both runs. Strict: the `expect` note is cited with a quote holding an "
             "evidence string; lenient: `expect` or an `also_ok` note; @1: only the quotes numbered [1]. "
             "*Before* is the answer path without source following and follow-up novelty "
             "(AnswerParams switches), *after* the defaults. Pointer answers: led by \"No passage says this "
             "outright; the closest notes are:\" (the passage bar missed, the note as a whole is close: "
             "`TOPIC_AT_LEAST`), not counted as abstentions; (strict): of them, how many still quote the evidence.", ""]
    header = ["category", "questions", "hit strict", "hit lenient", "hit@1 strict", "hit@1 lenient",
              "false abstentions", "correct abstentions", "false answers", "pointer answers (strict)"]
    for label, result in (("after", after), ("before", before)):
        rows = []
        for name in (*CATEGORIES, "all answerable"):
            row = result["by_category"].get(name)
            if row is None:
                continue
            if "correct_abstentions" in row:
                rows.append([name, row["questions"], "", "", "", "", "", row["correct_abstentions"], row["false_answers"],
                             row.get("topic_only", 0)])
            else:
                rows.append([name, row["questions"], _pct(row["strict"]), _pct(row["lenient"]),
                             _pct(row["strict_at_1"]), _pct(row["lenient_at_1"]), row["false_abstentions"], "", "",
                             f"{row.get('topic_only', 0)} ({row.get('topic_only_strict', 0)})"])
        lines += [f"## By category ({label})", "", markdown_table(header, rows), ""]
    rows = [[name, row["questions"], _pct(row["strict"]), _pct(row["lenient"]), _pct(row["strict_at_1"]),
             _pct(row["lenient_at_1"]), row["false_abstentions"]]
            for name, row in sorted(after["by_section"].items()) if name != "all answerable"]
    lines += ["## Section questions by section (after)", "",
              markdown_table(["section", *header[1:7]], rows), ""]

    def follow_row(label, f):
        return [label, f["inquiry_quotes_citing_notes"], f["source_first_or_beside"], f["source_cited"],
                _pct(f["share_first_or_beside"])]

    lines += ["## Source following", "",
              "Each quoted inquiry passage that cites notes inline (by title, `Note.link_spans`): is one of "
              "the notes it cites quoted too, first or right beside it (the number before or after)?", "",
              markdown_table(["run", "inquiry quotes citing notes", "a cited note first or beside", "cited anywhere",
                              "share first or beside"],
                             [follow_row("before", before["source_following"]),
                              follow_row("after", after["source_following"])]), ""]

    def direct_row(label, d):
        share = _pct(d["first_or_beside"] / d["questions"]) if d["questions"] else "-"
        return [label, d["questions"], d["first_or_beside"], d["cited"], share]

    lines += ["Per question: where the answer quotes an inquiry passage that names the question's `expect` note "
              "(the direct source of the finding it paraphrases), is that source quoted first or right beside it?", "",
              markdown_table(["run", "questions", "direct source first or beside", "direct source cited", "share"],
                             [direct_row("before", before["direct_source"]), direct_row("after", after["direct_source"])]),
              ""]

    def pair_row(label, f):
        return [label, f["pairs"], f["added_a_new_passage"], f["added_the_expected_evidence"], f["said_nothing_new"],
                f"{f['repeated_quotes']} of {f['quotes']}", f["ok"]]

    lines += ["## Follow-ups", "",
              "Each pair: the first question, then the follow-up with the first answer as history. "
              "New = a quote overlapping no passage the first answer linked to; ok = the expected new evidence, "
              "or \"nothing new\" where the pair allows it.", "",
              markdown_table(["run", "pairs", "added a new passage", "added the expected evidence", "said nothing new",
                              "repeated quotes", "ok"],
                             [pair_row("before", before["follow_ups"]), pair_row("after", after["follow_ups"])]), ""]
    rows = [[r["id"], r["follow_up"], f"{b['new_quotes']}/{b['quotes']}", "yes" if b["adds_expected"] else "no",
             f"{r['new_quotes']}/{r['quotes']}", "yes" if r["adds_expected"] else "no",
             "yes" if r["said_nothing_new"] else ""]
            for b, r in zip(before["follow_up_pairs"], after["follow_up_pairs"])]
    lines += [markdown_table(["pair", "follow-up", "new quotes before", "expected before", "new quotes after",
                              "expected after", "nothing new"], rows), ""]
    for b, r in zip(before["follow_up_pairs"], after["follow_up_pairs"]):
        if r["id"] != "f01":
            continue
        lines += [f"Pair {r['id']}, \"{r['follow_up']}\" after \"{SPEC_FIRST.get(r['id'], '')}\": before, then after.", ""]
        for label, result in (("before", b), ("after", r)):
            lines += [f"*{label}:*", ""] + [f"    {line}" for line in result["follow_up_answer"].splitlines()
                                          if line.startswith(">") or "Nothing new" in line] + [""]
    misses = [s for s in after["questions"] if s["category"] != "offtopic" and not s["lenient"]]
    lines += ["## Answerable questions missed (after, lenient)", ""]
    lines += [f"- {s['id']} ({s['category']}/{s['section']}): "
              + ("abstained" if s["abstained"] else ("pointed at " if s.get("topic_only") else "cited ") + ", ".join(s["cited"])) for s in misses] or ["- none"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=Path, default=QUESTIONS)
    parser.add_argument("--seeds", default=str(ROOT / "seeds"))
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="where the seeds' index is kept (default: BOT_DATA_DIR)")
    parser.add_argument("--only", default="", help="comma-separated question/pair ids")
    parser.add_argument("--no-write", action="store_true", help="print, don't write bench/results")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every answer")
    args = parser.parse_args(argv)

    import common  # noqa: F401  (the environment: offline model, no telemetry)
    from common import write_result

    from bot.service import Bot
    from bot.settings import Settings

    spec = yaml.safe_load(args.questions.read_text(encoding="utf-8"))
    if args.only:
        keep = set(args.only.split(","))
        spec["questions"] = [q for q in spec["questions"] if q["id"] in keep]
        spec["follow_ups"] = [p for p in spec.get("follow_ups", []) if p["id"] in keep]
    overrides = {"data_dir": args.data_dir} if args.data_dir else {}
    began = time.perf_counter()
    with Bot.open(Settings(notes_dir=args.seeds, **overrides), progress=False) as notes:
        before = evaluate(notes, spec, before_params())
        after = evaluate(notes, spec, DEFAULT_ANSWER_PARAMS)
        count = len(notes.snapshot.notes)
    meta = {"questions": len(spec["questions"]), "pairs": len(spec.get("follow_ups", [])), "notes": count,
            "seconds": time.perf_counter() - began, "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    report = markdown(before, after, meta)
    if args.verbose:
        for s in after["questions"]:
            print(f"--- {s['id']}: {s.get('lenient', s.get('correct_abstention'))}\n{s['answer']}\n")
        for r in after["follow_up_pairs"]:
            print(f"=== {r['id']} {r['follow_up']}\n{r['follow_up_answer']}\n")
    print(report)
    if not args.no_write and not args.only:
        path = write_result("seed_questions", {"meta": meta, "after": after, "before": before}, report)
        print(f"wrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
