"""The web app: a Gradio chat at "/" and plain HTML note pages, on one FastAPI app.

    bot/web/app.py           create_app(settings) -> FastAPI           (the factory)
    bot/web/server.py        serve(settings): uvicorn on BOT_HOST:BOT_PORT  (`python app.py`, `bot serve`)
    bot/web/runtime.py       AppRuntime: the open Bot, kept current in the background
    bot/web/conversation.py  one session's chat; answering as a stream of display steps
    bot/web/chat.py          the Gradio Blocks wired to it
    bot/web/pages.py         /notes and /notes/{id}
    bot/web/render.py        safe Markdown and HTML from answers and notes       (pure)
    bot/web/feedback.py      thumbs up/down, in SQLite in the data dir

May import: `bot.service` (the `Bot` the runtime opens: answers, search, ingest, refresh),
`bot.query` (its models and the read-only `Library`), `bot.auth` and the shared leaves. Never
`bot.notes` or `bot.index`: notes and the store are reached only through the service
(import-linter holds that line).
"""
