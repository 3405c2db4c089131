"""The seed question set answered with the old quote picker and the new one, side by side.

    BOT_DATA_DIR=... .venv/bin/python bench/tight_seeds.py [--questions bench/seed_questions.yaml] [--show 20]

Every question of `bench/seed_questions.yaml` goes through `Bot.respond` (the answer `bot.ask`
gives) twice: with the picker as it was (`tight_quotes.BEFORE`) and with today's defaults.
A question counts as answered when a cited quote of its `expect` note, or of an `also_ok`
note, holds one of its evidence strings (whitespace collapsed); an off-topic one when the
answer abstains. Prints the counts before and after, every question whose outcome changed,
and the first quote before and after for `--show` questions whose first quote changed.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import yaml
from common import ROOT

from bot.query.params import DEFAULT_ANSWER_PARAMS  # noqa: E402
from bot.service import Bot  # noqa: E402
from bot.settings import Settings  # noqa: E402
from tight_quotes import BEFORE  # noqa: E402


def collapse(text: str) -> str:
    return " ".join(text.split())


def outcome(question: dict, answer) -> bool:
    if question["category"] == "offtopic":
        return answer.abstained
    notes = {question["expect"], *question.get("also_ok", [])}
    evidence = [collapse(e) for e in question.get("evidence", [])]
    return any(c.note_id in notes and any(e in collapse(c.quote) for e in evidence) for c in answer.citations)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "bench" / "seed_questions.yaml")
    parser.add_argument("--show", type=int, default=20, help="print this many changed first quotes")
    args = parser.parse_args()
    questions = yaml.safe_load(args.questions.read_text())["questions"]
    settings = Settings(notes_dir=str(ROOT / "seeds"))
    before_params = replace(DEFAULT_ANSWER_PARAMS, quotes=BEFORE)
    totals = {"before": 0, "after": 0}
    abstained = {"before": 0, "after": 0}  # on questions the notes answer
    changed, shown = [], 0
    with Bot.open(settings, progress=False) as bot:
        for q in questions:
            old = bot.respond(q["question"], params=before_params).answer
            new = bot.respond(q["question"]).answer
            was, now = outcome(q, old), outcome(q, new)
            totals["before"] += was
            totals["after"] += now
            if q["category"] != "offtopic":
                abstained["before"] += old.abstained
                abstained["after"] += new.abstained
            if was != now or old.abstained != new.abstained:
                changed.append(f"{q['id']} ({q['category']}): {_state(was, old)} -> {_state(now, new)}: "
                               f"{q['question']}")
            first_old = old.citations[0].quote if old.citations else "(abstains)"
            first_new = new.citations[0].quote if new.citations else "(abstains)"
            if first_old != first_new and shown < args.show:
                shown += 1
                print(f"\n{q['id']} {q['question']}\n  before: {first_old}\n  after:  {first_new}")
    answerable = sum(q["category"] != "offtopic" for q in questions)
    print(f"\n{len(questions)} seed questions answered (evidence quoted, or off-topic abstained): "
          f"before {totals['before']}, after {totals['after']}; abstentions on the {answerable} answerable ones: "
          f"before {abstained['before']}, after {abstained['after']}")
    print("\n".join(changed) or "no question's outcome changed")


def _state(right: bool, answer) -> str:
    return ("answered" if right else "missed") + (" (abstains)" if answer.abstained else "")


if __name__ == "__main__":
    main()
