"""Optional answer synthesis: an LLM writes the answer, the bot checks every sentence.

    question, turns, passages ──prompt.build_messages──▶ messages
    messages ──client.LLMClient.stream──▶ text deltas            (any OpenAI-compatible API)
    deltas ──verify.SentenceStream──▶ sentences ──verify.Verifier──▶ kept | dropped (with reasons)

This package owns the HTTP client for `{BOT_LLM_URL}/chat/completions` (client.py), the chat
messages the LLM is sent (prompt.py) and the sentence-by-sentence check of what it writes against
the passages it cites (verify.py). Deciding whether a synthesized answer replaces the extractive
one, and showing it, belongs to the answer layer and the UI, which call in here.

What it may import: the shared leaves (bot.settings, bot.models, bot.errors), numpy and httpx;
verify.py borrows the project's tokenizer and sentence splitter through imports inside functions
(bot.lexical, bot.sentences; after the package refactor bot.index.lexical and bot.notes.sentences).
Nothing from bot.web or bot.cli, and nothing outside the answer layer, the service and the UI
imports this package.
"""
