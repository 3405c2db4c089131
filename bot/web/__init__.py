"""The web app: a Gradio chat at "/" and plain HTML note pages, on one FastAPI app.

    bot/web/app.py           create_app(settings) -> FastAPI           (the factory)
    bot/web/server.py        serve(settings): uvicorn on BOT_HOST:BOT_PORT  (`python app.py`, `bot serve`)
    bot/web/runtime.py       AppRuntime: the open Bot, kept current in the background
    bot/web/outage.py        while the Chroma server is down: fail at once, one trial at a time
    bot/web/conversation.py  one session's chat; answering as a stream of display steps
    bot/web/chat.py          the Gradio Blocks wired to it
    bot/web/pages.py         /notes and /notes/{id}
    bot/web/render.py        safe Markdown and HTML from answers and notes       (pure)
    bot/web/feedback.py      thumbs up/down, in SQLite in the data dir
    bot/web/api.py           the JSON API under /api        (bodies.py: its JSON guard and messages)
    bot/web/auth.py          the sign-in gate: who a request is, failed checks limited, when sign-in is on
    bot/web/login.py         /login (with its CSRF token) and POST /logout (ends the session everywhere)
    bot/web/headers.py       trusted hosts and the security headers (CSP with the chat's script hashes)
    bot/web/limits.py        rate limits per user and address, and the body size limit

May import: `bot.service` (the `Bot` the runtime opens: answers, search, ingest, refresh),
`bot.query` (its models and the read-only `Library`), `bot.auth` and the shared leaves. Never
`bot.notes` or `bot.index`: notes and the store are reached only through the service
(import-linter holds that line).
"""
