"""What answer synthesis costs the bot itself, apart from the LLM's own time; and that with it off,
`ask` costs what it did.

    .venv/bin/python bench/synthesis_latency.py [--repeat 3]

One process, one index of the seed pages, the questions of bench/synthesis_cases.yaml (42, each
with paraphrased sentences a person wrote from the passages). Every round asks each question four
ways, in turn (the order rotating from one question to the next), so the figures are ratios taken
on the same machine at the same moment:

    before     `answer_question` on the index: the read path `Bot.ask` ran before synthesis existed
    off        `Bot.ask` with BOT_LLM_URL unset
    on         `Bot.ask` with BOT_LLM_URL pointing at the scripted OpenAI-compatible server
               (tests/synthesis/llm_server.py, a subprocess on loopback), which streams the case's
               sentences back at once, each ending in the [n] of the passage holding its evidence
    llm        the LLM's own time: the same reply streamed by the same client straight from that
               server (HTTP, server-sent events, parsing), nothing else

The bot's own cost of synthesis is `on - off - llm`, question by question: building the passages
and the prompt, checking every sentence (embedding it, comparing it with the index's own sentence
vectors), composing the answer. Writes bench/results/synthesis_latency.json and .md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import numpy as np
import yaml

from common import ROOT, machine, markdown_table, percentiles, write_result

from bot.query.answer import answer_question
from bot.service import Bot
from bot.settings import Settings
from bot.synthesis.client import LLMClient
from bot.synthesis.passages import cited_passages
from bot.synthesis.prompt import build_messages
from tests.synthesis.llm_server import ScriptedLLM


def reply_for(case: dict, passages) -> str:
    """The case's faithful sentences, each ending with the [n] of a passage holding its evidence
    (or [1]: a sentence then likely dropped, which is checked all the same)."""
    sentences = []
    for sentence in case["faithful"]:
        numbers = []
        for cite in sentence["cites"]:
            wanted = " ".join(cite["evidence"].split())
            numbers += [p.number for p in passages if wanted in " ".join(p.text.split())][:1]
        marks = "".join(f"[{n}]" for n in sorted(set(numbers)) or [1])
        sentences.append(f"{sentence['text']} {marks}")
    return " ".join(sentences)


def embed_query_ms(bot, question: str) -> float:
    """One query embedding, as retrieval computes it: the unit a model call costs on this machine now."""
    started = time.perf_counter()
    bot.embedder.encode_query(question)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default=str(ROOT / "bench" / "synthesis_cases.yaml"))
    parser.add_argument("--repeat", type=int, default=3, help="Rounds over the questions.")
    parser.add_argument("--pace", type=float, default=0.0,
                        help="Seconds between the server's streamed pieces of 8 characters (0: all at once; "
                             "0.03 is about 65 tokens a second). Paced, `own` is what the bot adds after "
                             "the LLM's last piece, its checks overlapping the writing.")
    args = parser.parse_args()
    cases = yaml.safe_load(open(args.cases))["cases"]

    times: dict[str, list[float]] = {"before": [], "off": [], "on": [], "llm": [], "own": [],
                                     "embedding": [], "own_without_embedding": [], "query_embedding": []}
    calls: list[int] = []
    modes = {"synthesized": 0, "extractive": 0}
    with tempfile.TemporaryDirectory(prefix="synth-latency-") as data_dir, ScriptedLLM() as llm:
        settings = Settings(data_dir=data_dir, notes_dir=str(ROOT / "seeds"))
        with Bot.open(settings, progress=False) as off:
            on = Bot(settings.model_copy(update={"llm_url": llm.url, "llm_model": "scripted",
                                                 "llm_timeout_seconds": 30}), off.index)
            embedding = {"calls": 0, "ms": 0.0}
            plain_embed = on.synthesizer.embed

            def timed_embed(texts):  # the one model call the check makes: how much of `own` it is
                started = time.perf_counter()
                try:
                    return plain_embed(texts)
                finally:
                    embedding["calls"] += 1
                    embedding["ms"] += (time.perf_counter() - started) * 1000

            on.synthesizer.embed = timed_embed
            client = LLMClient(llm.url, model="scripted", timeout=30)
            replies = {}
            for case in cases:  # each question's reply, and a warm-up of every path
                extractive = answer_question(off.index, case["question"])
                replies[case["id"]] = reply_for(case, cited_passages(extractive, off.snapshot))
                messages = build_messages(case["question"], cited_passages(extractive, off.snapshot))
                llm.script({"reply": replies[case["id"]], "chunk": 8}, {"reply": replies[case["id"]], "chunk": 8})
                on.ask(case["question"])
                list(client.stream_batches(messages))
            embedding.update(calls=0, ms=0.0)
            for round_number in range(args.repeat):
                for i, case in enumerate(cases):
                    question, reply = case["question"], replies[case["id"]]
                    extractive = answer_question(off.index, question)
                    messages = build_messages(question, cited_passages(extractive, off.snapshot))
                    measured = {}
                    order = ["before", "off", "on", "llm"]
                    shift = (i + round_number) % len(order)
                    for name in order[shift:] + order[:shift]:
                        if name in ("on", "llm"):
                            llm.script({"reply": reply, "chunk": 8, "pace": args.pace})
                        started = time.perf_counter()
                        if name == "before":
                            answer_question(off.index, question)
                        elif name == "off":
                            off.ask(question)
                        elif name == "on":
                            answer = on.ask(question)
                        else:
                            list(client.stream_batches(messages))
                        measured[name] = (time.perf_counter() - started) * 1000
                    if not extractive.abstained:
                        modes[answer.mode] += 1
                    for name, value in measured.items():
                        times[name].append(value)
                    if not extractive.abstained:  # an abstention never calls the LLM
                        times["own"].append(measured["on"] - measured["off"] - measured["llm"])
                        times["own_without_embedding"].append(times["own"][-1] - embedding["ms"])
                        times["embedding"].append(embedding["ms"])
                        times["query_embedding"].append(embed_query_ms(off, question))
                        calls.append(embedding["calls"])
                    embedding.update(calls=0, ms=0.0)
            client.close()
            on.synthesizer.close()

    stats = {name: percentiles(values) for name, values in times.items()}
    ratio_off = stats["off"]["p95"] / stats["before"]["p95"]
    result = {"machine": machine(), "questions": len(cases), "rounds": args.repeat, "pace": args.pace, "ms": stats,
              "off_over_before_p95": round(ratio_off, 4), "modes": modes,
              "own_mean_ms": round(float(np.mean(times["own"])), 2),
              "embedding_calls_per_answer": round(float(np.mean(calls)), 2)}
    rows = [[name, stats[name]["p50"], stats[name]["p95"], stats[name]["p99"]] for name in times]
    text = "\n".join([
        f"{len(cases)} questions x {args.repeat} rounds; the scripted server streaming "
        + (f"a piece of 8 characters every {args.pace:g} s" if args.pace else "the whole answer at once")
        + f"; load average {result['machine']['load_average']}.",
        "",
        markdown_table(["ms", "p50", "p95", "p99"], rows),
        "",
        f"Synthesis off: `Bot.ask` p95 / the read path's p95 = {ratio_off:.3f}.",
        f"Synthesis on: the bot's own cost (on - off - llm) p50 {stats['own']['p50']} ms, p95 "
        f"{stats['own']['p95']} ms; answers synthesized {modes['synthesized']}, fell back {modes['extractive']}.",
        f"Of it, embedding the LLM's sentences: p50 {stats['embedding']['p50']} ms in "
        f"{result['embedding_calls_per_answer']} calls an answer (one query embedding: p50 "
        f"{stats['query_embedding']['p50']} ms); everything else: p50 {stats['own_without_embedding']['p50']} ms, "
        f"p95 {stats['own_without_embedding']['p95']} ms.",
    ])
    print(text)
    write_result("synthesis_latency" + ("_paced" if args.pace else ""), result, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
