"""How well the synthesis verifier keeps faithful sentences and drops injected errors, replayed over
real HTTP from a scripted OpenAI-compatible server; and where its thresholds come from.

    .venv/bin/python bench/synthesis_verifier.py [--cases bench/synthesis_cases.yaml] [--no-scifact]

For each case of bench/synthesis_cases.yaml (42 cases over the seed questions):

1. the bot's real retrieval answers the case's question on the seeds (`Bot.respond`), and its
   cited quotes become the numbered passages the LLM would read (`bot.synthesis.passages`:
   each quote widened to neighbouring sentences, with the index's own sentence vectors);
2. each sentence's `cites` evidence is mapped to the [n] of the retrieved passage holding it. A
   passage the retrieval did not find is added with the next number (counted and reported:
   that is the retrieval's miss, not the verifier's); for `swapped_citation` the sentence cites
   the wrong passage; for `unsupported_claim`, every passage holding the claim's true source is
   kept out of the set, so the claim comes from a passage that wasn't retrieved;
3. the answer, faithful sentences and injected errors interleaved, each ending with its [n]
   marks, is scripted into tests/synthesis/llm_server.py and streamed back through the bot's
   own client (`LLMClient.stream`, real HTTP, chunked server-sent events) into the `Verifier`.

Then the rates: kept-faithful % and dropped-errors % overall and per error type, on the tuning
half (odd-numbered cases), the held-out half (even) and all. The thresholds (MIN_COVERAGE,
MIN_SIMILARITY) are chosen on the tuning half by a grid search, replayed in-process with the
very same passages; the held-out half is only measured. The similarity threshold is checked
against SciFact too: a claim against its gold rationale sentences ("close"), and against random
sentences of other abstracts ("not close").

Writes bench/results/synthesis_verifier.json and .md.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from common import ROOT, SCIFACT, machine, markdown_table, write_result

sys.path.insert(0, str(ROOT / "bench"))
from check_seed_questions import Seeds, norm  # noqa: E402

from bot.models import DroppedSentence  # noqa: E402
from bot.service import Bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from bot.synthesis import verify as verify_module  # noqa: E402
from bot.synthesis.claims import split_answer  # noqa: E402
from bot.synthesis.client import LLMClient  # noqa: E402
from bot.synthesis.passages import cited_passages, paragraph_of, passage_at  # noqa: E402
from bot.synthesis.prompt import PASSAGE_MAX_CHARS, Passage, build_messages, widen_span  # noqa: E402
from bot.synthesis.verify import Verifier  # noqa: E402
from tests.synthesis.llm_server import ScriptedLLM  # noqa: E402

ERROR_TYPES = ("altered_number", "negation", "unsupported_claim", "swapped_citation", "invented_detail")
TARGET = 0.95
COVERAGE_GRID = [float(round(x, 2)) for x in np.arange(0.30, 0.71, 0.05)]
SIMILARITY_GRID = [float(round(x, 3)) for x in np.arange(0.30, 0.61, 0.025)]
SHARED_GRID = [1, 2]


@dataclass
class Item:
    """One sentence of a replayed answer and what became of it."""

    case: str
    kind: str  # "faithful" or an error type
    text: str
    cites: list[dict]
    extra: dict = field(default_factory=dict)
    numbers: list[int] = field(default_factory=list)
    kept: bool | None = None
    check: str = ""
    reason: str = ""


@dataclass
class Replay:
    """One answer the scripted server sends for a case, and the passages the LLM was given."""

    case: str
    question: str
    passages: list[Passage]
    items: list[Item]

    def text(self) -> str:
        return " ".join(f"{i.text} {''.join(f'[{n}]' for n in i.numbers)}" for i in self.items)


# --- building the replays ------------------------------------------------------------------------

class PassageBook:
    """The numbered passages of one case: the retrieved ones, then any the cases need added."""

    def __init__(self, snapshot, seeds: Seeds, retrieved: list[Passage]) -> None:
        self.snapshot = snapshot
        self.seeds = seeds
        self.passages = list(retrieved)
        self.retrieved = len({p.number for p in retrieved})
        self.added = 0

    def holding(self, evidence: dict) -> list[Passage]:
        wanted = norm(evidence["evidence"])
        return [p for p in self.passages if wanted in norm(p.text)
                and p.note_id == evidence["note"]]

    def number(self, evidence: dict, exclude: set[int] = frozenset()) -> int:
        """The [n] of a passage holding the evidence; one is added when none does."""
        for passage in self.holding(evidence):
            if passage.number not in exclude:
                return passage.number
        passage = self.make(evidence, max((p.number for p in self.passages), default=0) + 1)
        self.passages.append(passage)
        self.added += 1
        return passage.number

    def make(self, evidence: dict, number: int) -> Passage:
        """The passage the bot would have shown for this evidence: its quote widened in the note's
        text, or, for text the index does not hold (a section this version does not index), the
        seed line holding it."""
        note = self.snapshot.note(evidence["note"])
        if note is not None:
            span = _find(note.text, evidence["evidence"])
            if span is not None:
                rows = self.snapshot.sentences_of(self.snapshot.by_id[note.id])
                spans = list(zip(self.snapshot.sentence_start[rows.start:rows.stop].tolist(),
                                 self.snapshot.sentence_end[rows.start:rows.stop].tolist()))
                widened = widen_span(span, spans, PASSAGE_MAX_CHARS, within=paragraph_of(note.text, *span))
                return passage_at(self.snapshot, note.id, widened, number)
        line = self.seeds.passage(evidence["note"], evidence["evidence"])
        if line is None:
            raise SystemExit(f"evidence not found in the seeds: {evidence}")
        title = note.title if note is not None else evidence["note"]
        return Passage(number, line, title, note_id=evidence["note"])


def _find(text: str, evidence: str) -> tuple[int, int] | None:
    pattern = r"\s+".join(re.escape(word) for word in evidence.split())
    match = re.search(pattern, text)
    return match.span() if match else None


def build_replays(bot: Bot, seeds: Seeds, data: dict) -> tuple[list[Replay], dict]:
    snapshot = bot.snapshot
    replays: list[Replay] = []
    stats = Counter()
    for case in data["cases"]:
        response = bot.respond(case["question"])
        stats["abstained"] += response.answer.abstained
        book = PassageBook(snapshot, seeds, cited_passages(response.answer, snapshot))
        stats["retrieved_passages"] += len(book.passages)
        faithful = [Item(case["id"], "faithful", s["text"], s["cites"]) for s in case["faithful"]]
        errors = [Item(case["id"], e["type"], e["text"], e["cites"], {k: e[k] for k in ("true_source", "right")
                                                                          if k in e}) for e in case["errors"]]
        for item in faithful:
            wanted = [book.number(c) for c in item.cites]
            stats["faithful_cites"] += len(wanted)
            item.numbers = sorted(set(wanted))
        stats["faithful_cites_retrieved"] += sum(
            1 for item in faithful for c in item.cites if any(p.number <= book.retrieved for p in book.holding(c)))
        main = [e for e in errors if e.kind != "unsupported_claim"]
        for item in main:
            item.numbers = sorted({book.number(c) for c in item.cites})
        # faithful and errors interleaved, the same order every run
        order = faithful + main
        random.Random(case["id"]).shuffle(order)
        replays.append(Replay(case["id"], case["question"], list(book.passages), order))
        unsupported = [e for e in errors if e.kind == "unsupported_claim"]
        if unsupported:
            hidden = {p.number for e in unsupported for p in book.holding(e.extra["true_source"])}
            cited_numbers = {book.number(c) for e in unsupported for c in e.cites}
            if hidden & cited_numbers:
                stats["unsupported_source_is_cited"] += 1
            hidden -= cited_numbers
            stats["true_sources_removed"] += len(hidden)
            passages = [p for p in book.passages if p.number not in hidden]
            for item in unsupported:
                item.numbers = sorted({book.number(c) for c in item.cites})
            replays.append(Replay(case["id"], case["question"], passages, unsupported))
        stats["added_passages"] += book.added
    return replays, dict(stats)


# --- replaying ---------------------------------------------------------------------------------------

def record(replay: Replay, checked: list) -> None:
    """Each item's fate: kept when all the claims its sentence splits into were kept."""
    at = 0
    for item in replay.items:
        pieces = len(split_answer(f"{item.text} {''.join(f'[{n}]' for n in item.numbers)}"))
        mine = checked[at:at + pieces]
        at += pieces
        failed = [c for c in mine if isinstance(c, DroppedSentence)]
        item.kept = not failed and len(mine) == pieces
        item.check = failed[0].check if failed else ""
        item.reason = failed[0].reason if failed else ""
    if at != len(checked):
        raise RuntimeError(f"{replay.case}: {len(checked)} checked sentences for {at} written")


def replay_http(replays: list[Replay], embed, thresholds: dict) -> float:
    """Every replay through the scripted server and the bot's client; returns seconds."""
    started = time.perf_counter()
    with ScriptedLLM() as llm, LLMClient(llm.url, model="scripted", timeout=30) as client:
        for replay in replays:
            llm.script({"reply": replay.text(), "chunk": 24})
            verifier = Verifier(replay.passages, embed, **thresholds)
            for delta in client.stream(build_messages(replay.question, replay.passages)):
                verifier.feed(delta)
            verifier.finish()
            record(replay, verifier.result.checked)
    return time.perf_counter() - started


def replay_local(replays: list[Replay], embed, thresholds: dict) -> None:
    for replay in replays:
        result = verify_module.verify(replay.text(), replay.passages, embed, **thresholds)
        record(replay, result.checked)


# --- rates ---------------------------------------------------------------------------------------------

def rates(items: list[Item]) -> dict:
    faithful = [i for i in items if i.kind == "faithful"]
    errors = [i for i in items if i.kind != "faithful"]
    out = {
        "faithful": len(faithful),
        "kept_faithful": _share(sum(i.kept for i in faithful), len(faithful)),
        "errors": len(errors),
        "dropped_errors": _share(sum(not i.kept for i in errors), len(errors)),
        "by_type": {},
    }
    for kind in ERROR_TYPES:
        group = [i for i in errors if i.kind == kind]
        out["by_type"][kind] = {"n": len(group), "dropped": _share(sum(not i.kept for i in group), len(group))}
    return out


def _share(count: int, total: int) -> float | None:
    return round(count / total, 4) if total else None


def halves(items: list[Item]) -> dict[str, list[Item]]:
    tuning = [i for i in items if int(i.case[1:]) % 2 == 1]
    held_out = [i for i in items if int(i.case[1:]) % 2 == 0]
    return {"tuning": tuning, "held_out": held_out, "all": items}


def grid_search(replays: list[Replay], embed) -> tuple[dict, list[dict]]:
    """The thresholds that best meet both targets on the tuning half: the highest lower of the two
    rates; ties to the higher kept-faithful rate, then to the middle of the grid."""
    tuning = [r for r in replays if int(r.case[1:]) % 2 == 1]
    items = [i for r in tuning for i in r.items]
    table = []
    for shared in SHARED_GRID:
        for coverage in COVERAGE_GRID:
            for similarity in SIMILARITY_GRID:
                thresholds = {"min_coverage": coverage, "min_similarity": similarity, "min_shared": shared}
                replay_local(tuning, embed, thresholds)
                r = rates(items)
                table.append({**thresholds, "kept_faithful": r["kept_faithful"], "dropped_errors": r["dropped_errors"]})
    best = max(table, key=lambda row: (min(row["kept_faithful"], row["dropped_errors"]),
                                       row["kept_faithful"] + row["dropped_errors"],
                                       -abs(row["min_coverage"] - 0.5) - abs(row["min_similarity"] - 0.5)))
    return {k: best[k] for k in ("min_coverage", "min_similarity", "min_shared")}, table


# --- SciFact -----------------------------------------------------------------------------------------

def scifact_similarity(embedder, directory: Path, negatives_per_claim: int = 5) -> dict | None:
    """Cosines between each training claim and its gold rationale sentences (SUPPORT; CONTRADICT
    apart), and between the claim and random sentences of other abstracts."""
    import json

    rationale_path = directory / "rationales_train.jsonl"
    if not rationale_path.is_file():
        return None
    claims = {}
    for line in (directory / "queries.jsonl").read_text().splitlines():
        record = json.loads(line)
        claims[str(record["_id"])] = record["text"]
    rationales = [json.loads(line) for line in rationale_path.read_text().splitlines() if line.strip()]
    wanted = {str(r["doc_id"]) for r in rationales}
    sentences: dict[str, list[str]] = {}
    pool: list[tuple[str, str]] = []
    rng = random.Random(12)
    with (directory / "corpus.jsonl").open() as handle:
        for line in handle:
            record = json.loads(line)
            doc = str(record["_id"])
            if doc in wanted:
                sentences[doc] = record.get("sentences") or []
            if record.get("sentences") and rng.random() < 0.2:
                pool.append((doc, rng.choice(record["sentences"])))
    pairs = {"support": [], "contradict": [], "random": []}
    for r in rationales:
        claim = claims.get(str(r["query_id"]))
        doc = str(r["doc_id"])
        if claim is None or doc not in sentences:
            continue
        label = "support" if r["label"] == "SUPPORT" else "contradict"
        gold = [sentences[doc][i] for i in r["sentences"] if i < len(sentences[doc])]
        pairs[label].append((claim, gold))
        others = [s for d, s in rng.sample(pool, negatives_per_claim * 2) if d != doc][:negatives_per_claim]
        pairs["random"].append((claim, others))
    texts = sorted({t for group in pairs.values() for claim, segs in group for t in [claim, *segs]})
    vectors = dict(zip(texts, embedder.encode(texts)))
    out = {}
    for name, group in pairs.items():
        if name == "random":
            values = [float(vectors[c] @ vectors[s]) for c, segs in group for s in segs]
        else:  # the closest gold sentence: a claim need only match one of them
            values = [max(float(vectors[c] @ vectors[s]) for s in segs) for c, segs in group if segs]
        out[name] = np.asarray(values)
    return out


def scifact_table(scores: dict, thresholds: list[float]) -> list[dict]:
    rows = []
    for t in thresholds:
        rows.append({
            "threshold": t,
            "support_close": round(float((scores["support"] >= t).mean()), 4),
            "contradict_close": round(float((scores["contradict"] >= t).mean()), 4),
            "random_close": round(float((scores["random"] >= t).mean()), 4),
        })
    return rows


# --- main ----------------------------------------------------------------------------------------------

def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=ROOT / "bench" / "synthesis_cases.yaml")
    parser.add_argument("--seeds", type=Path, default=ROOT / "seeds")
    parser.add_argument("--scifact", type=Path, default=SCIFACT)
    parser.add_argument("--no-scifact", action="store_true")
    parser.add_argument("--no-grid", action="store_true", help="Measure the current thresholds only.")
    parser.add_argument("-v", "--verbose", action="store_true", help="Print every wrong decision.")
    args = parser.parse_args()

    data = yaml.safe_load(args.cases.read_text())
    seeds = Seeds(args.seeds)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="synth-bench-") as data_dir:
        settings = Settings(data_dir=data_dir, notes_dir=str(args.seeds))
        with Bot.open(settings, progress=False) as bot:
            replays, stats = build_replays(bot, seeds, data)
            cache: dict[str, np.ndarray] = {}

            def embed(texts):  # memoised for the grid; the HTTP replay uses the same vectors
                missing = [t for t in dict.fromkeys(texts) if t not in cache]
                if missing:
                    cache.update(zip(missing, bot.embedder.encode_batch(missing)))
                return np.stack([cache[t] for t in texts]) if texts else np.zeros((0, bot.embedder.dimension))

            current = {"min_coverage": verify_module.MIN_COVERAGE, "min_similarity": verify_module.MIN_SIMILARITY,
                       "min_shared": verify_module.MIN_SHARED}
            table: list[dict] = []
            chosen = current
            if not args.no_grid:
                chosen, table = grid_search(replays, embed)
            seconds = replay_http(replays, embed, current)
            items = [i for r in replays for i in r.items]
            measured = {name: rates(group) for name, group in halves(items).items()}
            scifact = None if args.no_scifact else scifact_similarity(bot.embedder, args.scifact)

    print(f"{len(data['cases'])} cases, {len(replays)} replays over HTTP in {seconds:.1f} s; {stats}")
    print(f"thresholds measured: {current}; grid's choice on the tuning half: {chosen}")
    for name, r in measured.items():
        by_type = ", ".join(f"{k} {v['dropped']:.1%} of {v['n']}" for k, v in r["by_type"].items() if v["n"])
        print(f"{name:9} kept faithful {r['kept_faithful']:.1%} of {r['faithful']}; dropped errors "
              f"{r['dropped_errors']:.1%} of {r['errors']} ({by_type})")
    if args.verbose:
        for item in items:
            if (item.kind == "faithful") != bool(item.kept):
                print(f"  {item.case} {item.kind:18} {'KEPT' if item.kept else 'DROPPED'} {item.text!r} "
                      f"{item.numbers} {item.reason}")
    drops = Counter((i.kind, i.check) for i in items if not i.kept)
    print("dropped by check:", dict(sorted(drops.items())))
    scifact_rows = []
    if scifact is not None:
        scifact_rows = scifact_table(scifact, SIMILARITY_GRID)
        for row in scifact_rows:
            print(f"  scifact t={row['threshold']:.3f} support {row['support_close']:.1%} contradict "
                  f"{row['contradict_close']:.1%} random {row['random_close']:.1%}")
    result = {"machine": machine(), "stats": stats, "thresholds": current, "grid_choice": chosen,
              "rates": measured, "grid": table, "scifact": scifact_rows,
              "wrong": [vars(i) | {"extra": None} for i in items if (i.kind == "faithful") != bool(i.kept)]}
    write_result("synthesis_verifier", result, markdown(result))
    return 0


def markdown(result: dict) -> str:
    rows = []
    for name in ("tuning", "held_out", "all"):
        r = result["rates"][name]
        rows.append([name.replace("_", "-"), f"{r['kept_faithful']:.1%} ({r['faithful']})",
                     f"{r['dropped_errors']:.1%} ({r['errors']})"]
                    + [f"{r['by_type'][k]['dropped']:.1%} ({r['by_type'][k]['n']})" for k in ERROR_TYPES])
    t = result["thresholds"]
    text = [f"Thresholds: MIN_COVERAGE {t['min_coverage']}, MIN_SIMILARITY {t['min_similarity']}.", "",
            markdown_table(["cases", "kept faithful", "dropped errors", *ERROR_TYPES], rows)]
    return "\n".join(text)


if __name__ == "__main__":
    sys.exit(main())
