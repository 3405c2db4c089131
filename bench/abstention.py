"""Calibrate the abstention threshold (`bot.answer.ABSTAIN_BELOW`) and report its precision/recall;
then the second view, the topic bar (`bot.answer.TOPIC_AT_LEAST`).

    .venv/bin/python bench/abstention.py [--beir ../shared/eval/scifact] [--claims 200]

Questions whose answer is in the notes (written for the seed pages, and SciFact
claims against the SciFact index) must be answered; off-topic questions (written
here, none of them used by the tests) must abstain. Each question's best evidence
score is measured once; the threshold is chosen on the calibration half (best F1
of abstention) and precision/recall of abstention are reported on the held-out
half, and on everything. "Positive" = the bot abstained.

The topic bar: below the passage bar, an answer still points at a note whose note vector is at
least this close to the question (saying no passage answers outright). It is chosen on the
calibration half of both corpora at once (the seed question set's paraphrases and off-topic
questions included): the lowest bar at which no off-topic question of that half is answered by
the topic view; false abstentions and off-topic answers are reported on both halves.
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml  # noqa: E402

from bot.query.answer import ABSTAIN_BELOW, TOPIC_AT_LEAST, note_topics, respond  # noqa: E402
from bot.tools.evaluate import load_beir, open_eval_index  # noqa: E402
from bot.service import Bot  # noqa: E402
from bot.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

SEED_ANSWERABLE = [
    "Does training models to be warm make them less reliable?",
    "What do models with think-then-say blocks develop under emotion rewards?",
    "Why do LLM therapists jump to problem-solving?",
    "Does RLHF reward task completion over validation in therapy?",
    "How much do grounding acts drop after preference optimization?",
    "Do models predict social norms better than people?",
    "What is RLVER?",
    "Can GRPO deliver stable empathy improvements?",
    "Do AI-generated personas create emotional resonance in product teams?",
    "Is a dialogue agent role-play all the way down?",
    "Are LLMs better than trainee therapists in single-turn empathy?",
    "Can chatbots detect resistance to behaviour change?",
    "Is evaluative feedback different from directive feedback?",
    "Does entropy collapse reduce exploration in search agents?",
    "Why do overly difficult environments destabilise empathy training?",
    "Does post-training create reasoning or select it?",
    "Does RL turn self-doubt in thinking mode into useful analysis?",
    "Why does warmth as a global trait hurt accuracy?",
    "Do LLMs use care and fairness framing more than humans?",
    "Do LLMs fail at perspective-taking in open-ended scenarios?",
    "Does empathy need knowledge of someone's character patterns?",
    "Do standard safety benchmarks catch the reliability loss from empathy training?",
    "Does emotional context amplify errors in warm models?",
    "Does the pretrained prior cap how empathetic a model can become?",
    "Can reasoning scaffolds help with nuanced judgment tasks like empathy?",
    "Does explicit belief tracking improve other-modeling?",
    "Are moral appeals and emotional tone separate persuasive channels?",
    "Do sad users make warm models more error-prone?",
    "Does the think-then-say template externalize reasoning about the user's emotional state?",
    "What is the alignment tax on conversational grounding?",
]

OFF_TOPIC = [
    "How tall is Mount Everest?",
    "What year did the Berlin Wall fall?",
    "How do I make cold brew coffee?",
    "What is the best way to learn the guitar?",
    "How do I reset my router password?",
    "Which planets have rings?",
    "What is a good stretching routine for runners?",
    "How do I write a cover letter for a marketing job?",
    "What are the rules of cricket?",
    "How do I remove a red wine stain from a carpet?",
    "What's the difference between a crocodile and an alligator?",
    "How many players are on a basketball team?",
    "What is the plot of Pride and Prejudice?",
    "How do I convert Celsius to Fahrenheit?",
    "What should I pack for a week in Iceland?",
    "How does a mortgage amortization schedule work?",
    "Who painted the Sistine Chapel ceiling?",
    "How do I grow tomatoes on a balcony?",
    "What is the GDP of Brazil?",
    "How do I set up a Python virtual environment?",
    "What are good names for a golden retriever puppy?",
    "When is the best time to visit Kyoto?",
    "How does a diesel engine start in cold weather?",
    "What is the recipe for French onion soup?",
    "How do I tie a bowline knot?",
    "Which airlines fly direct from London to Singapore?",
    "What is the offside rule in football?",
    "How do I fix a leaking kitchen tap?",
    "What is the population of Canada?",
    "How do I play chess openings like the Sicilian Defence?",
    "What are the symptoms of a flat car battery?",
    "How do I knit a scarf?",
    "Who wrote the Odyssey?",
    "What is the fastest land animal?",
    "How do I clean a cast iron pan?",
    "How do I file a tax return in Spain?",
    "What is the history of the Eiffel Tower?",
    "How do I train for a marathon in twelve weeks?",
    "What are the main exports of New Zealand?",
    "How do solar panels get installed on a roof?",
]


def calibration_half(text: str) -> bool:
    return hashlib.sha256(text.encode("utf-8")).digest()[0] % 2 == 0


TOPICS: dict[tuple[str, str], float] = {}  # (collection, question) -> its closest scored note's topic score


def best_evidence(index, question: str, collection: str = "seeds") -> float:
    response = respond(index, question)
    vector = index.embedder.encode_query(question)
    TOPICS[collection, question] = max(note_topics(index.snapshot, vector, response.evidence).values(), default=float("-inf"))
    return max((e.score for e in response.evidence), default=float("-inf"))


def seed_question_set() -> tuple[list[str], list[str]]:
    """bench/seed_questions.yaml: its answerable questions (every category) and its off-topic ones."""
    spec = yaml.safe_load((ROOT / "bench" / "seed_questions.yaml").read_text(encoding="utf-8"))
    answerable = [q["question"] for q in spec["questions"] if q["category"] != "offtopic"]
    return answerable, [q["question"] for q in spec["questions"] if q["category"] == "offtopic"]


def two_view(items: list[tuple[str, str, float, bool]]) -> None:
    """Choose the topic bar on the calibration half; report what it changes on both halves."""
    below = [(c, q, TOPICS.get((c, q), float("-inf")), a) for c, q, s, a in items if s < ABSTAIN_BELOW]
    calibration_off = [t for _, q, t, a in below if a and calibration_half(q)]
    chosen = round(max(calibration_off, default=0.0) + 0.001, 3)
    print(f"\ntopic bar: chosen {chosen:.3f} (just above the calibration half's most topical off-topic "
          f"question below the passage bar); in use: TOPIC_AT_LEAST = {TOPIC_AT_LEAST}")
    for bar in sorted({chosen, TOPIC_AT_LEAST, 0.30, 0.35, 0.40}):
        for half, name in ((True, "calibration"), (False, "held-out")):
            for collection in ("seeds", "scifact"):
                part = [(TOPICS[c, q], s, a) for c, q, s, a in items if c == collection and calibration_half(q) == half]
                if not part:
                    continue
                fa_before = sum(1 for q, s, a in part if not a and s < ABSTAIN_BELOW)
                fa_after = sum(1 for t, s, a in part if not a and s < ABSTAIN_BELOW and t < bar)
                off = [(t, s) for t, s, a in part if a]
                off_before = sum(1 for t, s in off if s >= ABSTAIN_BELOW)
                off_after = sum(1 for t, s in off if s >= ABSTAIN_BELOW or t >= bar)
                print(f"  bar {bar:.3f} {name:<11} {collection:<7} false abstentions {fa_before:3} -> {fa_after:3}"
                      f"   off-topic answered {off_before}/{len(off)} -> {off_after}/{len(off)}")
    for c, q, t, a in sorted(below, key=lambda b: -b[2])[:12]:
        print(f"    topic {t:.3f} {c:<8} {'off-topic' if a else 'answerable'}: {q[:90]}")


def precision_recall(items: list[tuple[float, bool]], threshold: float) -> tuple[float, float, float]:
    """Abstention precision, recall and F1 at `threshold` (items: (score, should_abstain))."""
    abstained = [(score < threshold, should) for score, should in items]
    tp = sum(1 for a, s in abstained if a and s)
    fp = sum(1 for a, s in abstained if a and not s)
    fn = sum(1 for a, s in abstained if not a and s)
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--beir", type=Path, default=ROOT.parent / "shared" / "eval" / "scifact")
    parser.add_argument("--claims", type=int, default=200, help="SciFact claims to sample (0: none)")
    args = parser.parse_args()
    settings = Settings()
    items: list[tuple[str, str, float, bool]] = []  # (collection, question, score, should_abstain)

    seed_settings = settings.model_copy(update={"notes_dir": str(ROOT / "seeds"),
                                                "data_dir": Path(settings.data_dir) / "abstention-seeds"})
    seeds = Bot.open(seed_settings, progress=False).index
    try:
        answerable, near_off_topic = seed_question_set()
        for question in dict.fromkeys(SEED_ANSWERABLE + answerable):
            items.append(("seeds", question, best_evidence(seeds, question), False))
        for question in OFF_TOPIC + near_off_topic:
            items.append(("seeds", question, best_evidence(seeds, question), True))
    finally:
        seeds.close()

    if args.claims and args.beir.is_dir():
        data = load_beir(args.beir)
        claims = sorted(data.queries.items())
        random.Random(0).shuffle(claims)
        with open_eval_index(settings, data) as index:
            for _, claim in claims[: args.claims]:
                items.append(("scifact", claim, best_evidence(index, claim, "scifact"), False))
            for question in OFF_TOPIC:
                items.append(("scifact", question, best_evidence(index, question, "scifact"), True))
    elif args.claims:
        print(f"no BEIR folder at {args.beir}: SciFact claims left out", file=sys.stderr)

    calibration = [(s, a) for _, q, s, a in items if calibration_half(q)]
    held = [(s, a) for _, q, s, a in items if not calibration_half(q)]
    candidates = sorted({round(s, 3) for s, _ in calibration if s != float("-inf")})
    best = max(candidates, key=lambda t: (precision_recall(calibration, t)[2], -abs(t - ABSTAIN_BELOW)))
    print(f"{len(items)} questions ({sum(a for *_, a in items)} off-topic); calibration half {len(calibration)}, "
          f"held-out half {len(held)}")
    print(f"chosen threshold {best:.3f} (in use: ABSTAIN_BELOW = {ABSTAIN_BELOW})")
    for label, threshold in (("chosen", best), ("in use", ABSTAIN_BELOW)):
        for name, subset in (("calibration half", calibration), ("held-out half", held),
                             ("all", [(s, a) for *_, s, a in items])):
            p, r, f = precision_recall(subset, threshold)
            print(f"  {label:<7} {name:<17} abstention precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}")
        for collection in ("seeds", "scifact"):
            subset = [(s, a) for c, _, s, a in items if c == collection]
            if subset:
                p, r, f = precision_recall(subset, threshold)
                print(f"  {label:<7} {collection:<17} abstention precision {p:.3f}  recall {r:.3f}  F1 {f:.3f}")
    wrong = [(c, q, s, a) for c, q, s, a in items if (s < ABSTAIN_BELOW) != a]
    for collection, question, score, should in sorted(wrong, key=lambda w: w[2]):
        verdict = "answered, should abstain" if should else "abstained, should answer"
        print(f"    {score:.3f} {collection:<8} {verdict}: {question[:90]}")
    two_view(items)


if __name__ == "__main__":
    main()
