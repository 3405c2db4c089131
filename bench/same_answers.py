"""Do two versions of the read path give the same rankings and answers? (SciFact, dense search replayed)

    .venv/bin/python bench/same_answers.py --base 60c1da0 [--claims 200] [--distractors 600]

Exports the `bot` package of `--base` (git archive) and runs the same SciFact claims through
`Bot.respond` with it and with the working tree, one process each, on one index of a SciFact
subset (the claims' relevant abstracts plus random distractors, built on first use under
BOT_DATA_DIR/same-answers). Chroma's HNSW search can return a slightly different neighbour set
from one process to the next, which moves fused scores; so the first process records every
dense search and the second replays it, and any difference left is the read path's own.
Prints how many rankings (ids and scores, top 100) and answers (Markdown, citations, scores)
are identical; exits 1 when any differs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = (ROOT.parent / "shared" / "eval" / "scifact").resolve()


def child(out: Path, replay: Path, data_dir: Path, claims: int, distractors: int) -> None:
    """Run in a child process: answer the claims with whichever `bot` is first on sys.path."""
    import hashlib
    import pickle
    import random

    from bot.index.store import Store
    from bot.service import Bot
    from bot.settings import Settings

    cache = pickle.loads(replay.read_bytes()) if replay.exists() else {}
    search = Store.query

    def replayed(self, vector, n, where=None):
        key = (hashlib.sha1(vector.tobytes()).hexdigest(), n, repr(where))
        if key not in cache:
            cache[key] = search(self, vector, n, where=where)
        return cache[key]

    Store.query = replayed
    queries = {q["_id"]: q["text"] for q in map(json.loads, (SCIFACT / "queries.jsonl").open())}
    qrels = [line.split("\t") for line in (SCIFACT / "qrels" / "train.tsv").read_text().splitlines()[1:]]
    ids = list(dict.fromkeys(q for q, _, _ in qrels))[:claims]
    notes = data_dir / "notes"
    if not (notes / "corpus.jsonl").exists():
        wanted = {d for q, d, _ in qrels if q in set(ids)}
        corpus = [json.loads(line) for line in (SCIFACT / "corpus.jsonl").open()]
        rest = [d for d in corpus if d["_id"] not in wanted]
        keep = [d for d in corpus if d["_id"] in wanted] + random.Random(7).sample(rest, distractors)
        notes.mkdir(parents=True, exist_ok=True)
        (notes / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in keep))
    result = {}
    with Bot.open(Settings(notes_dir=str(notes), data_dir=data_dir), progress=False) as bot:
        for qid in ids:
            response = bot.respond(queries[qid])
            result[qid] = {"ranking": [(h.note_id, round(h.score, 6)) for h in response.hits[:100]],
                           "answer": response.answer.model_dump()}
    out.write_text(json.dumps(result))
    replay.write_bytes(pickle.dumps(cache))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare the working tree with")
    parser.add_argument("--claims", type=int, default=200)
    parser.add_argument("--distractors", type=int, default=600)
    parser.add_argument("--child", nargs=3, metavar=("OUT", "REPLAY", "DATA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    if args.child:
        child(*map(Path, args.child), args.claims, args.distractors)
        return 0
    if not SCIFACT.exists():
        print(f"SciFact is not at {SCIFACT}", file=sys.stderr)
        return 2
    data_dir = Path(os.environ.get("BOT_DATA_DIR", ROOT / "data")) / "same-answers"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.base, "bot"], check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        replay = tmp / "dense.pkl"
        runs = {}
        for label, path in (("base", tmp), ("tree", ROOT)):
            out = tmp / f"{label}.json"
            env = {**os.environ, "PYTHONPATH": str(path)}
            subprocess.run([sys.executable, __file__, "--base", args.base, "--claims", str(args.claims),
                            "--distractors", str(args.distractors), "--child", str(out), str(replay), str(data_dir)],
                           check=True, env=env, cwd=tmp)
            runs[label] = json.loads(out.read_text())
    base, tree = runs["base"], runs["tree"]
    rankings = sum(base[k]["ranking"] == tree[k]["ranking"] for k in base)
    answers = sum(base[k]["answer"] == tree[k]["answer"] for k in base)
    print(f"{len(base)} SciFact claims, {args.base} vs the working tree: identical rankings {rankings}, "
          f"identical answers {answers}")
    return 0 if rankings == answers == len(base) else 1


if __name__ == "__main__":
    sys.exit(main())
