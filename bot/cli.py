"""The `bot` command: each subcommand is a thin wrapper over one library function.

    bot ingest [PATH ...]          index notes (incremental)
    bot ask "QUESTION" [--json]     answer from the notes
    bot eval --beir DIR             measure retrieval and quoting on a BEIR dataset
    bot serve [--host --port]       the chat app (the same as `python app.py`)
    bot serve --workers N           N app processes on ports PORT..PORT+N-1 (behind a proxy)
    bot users add|remove|list       who may sign in (a Chroma server requires login)
    bot tokens create|list|revoke   API tokens (Authorization: Bearer nb_...)
    bot adapt [PATH ...]            fine-tune the embedder on the notes' own title → text pairs
    bot settings [--markdown]       every setting, its variable and default
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .errors import BotError, IngestFailed, InputError, PathNotFound
from .logs import setup_logging
from .settings import Settings, load_settings


class BotGroup(click.Group):
    """A command group where every error the bot raises on purpose ends as one line and its exit
    code (`BotError.exit_code`: 2 for input that can't be used, 1 for the rest), never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except BotError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)


@click.group(cls=BotGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")
@click.pass_context
def cli(ctx: click.Context, verbose: int, quiet: bool) -> None:
    """Ask questions of your research notes; answers quote the notes verbatim, with citations.

    Configuration comes from BOT_* environment variables and a .env file
    (`bot settings` lists them).
    """
    setup_logging(verbose, quiet)
    ctx.ensure_object(dict)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rebuild", is_flag=True, help="Drop the index and build it again from scratch.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON on stdout.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def ingest(paths: tuple[Path, ...], rebuild: bool, as_json: bool, no_progress: bool) -> None:
    """Index notes: folders or files (.md, .txt, seed pages, .jsonl).

    Without PATHS, the folders in BOT_NOTES_DIR. Only changed notes are
    re-embedded; notes whose files are gone from the given paths are removed.
    Notes from other paths are left alone. Exits 2 when a named path does
    not exist, 1 when a file failed to be read (skipped files are fine).
    """
    from .index.embedder import Embedder
    from .index.ingest import ingest as run_ingest
    from .index.int8 import served_precision
    from .index.store import Store

    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise PathNotFound(f"no such file or folder: {', '.join(missing)}")
    settings = load_settings()
    precision = served_precision(settings, rebuild=rebuild)
    if precision.message:
        click.echo(precision.message, err=True)
    settings = precision.settings
    embedder = Embedder.load(settings)
    with Store.open(settings, embedder.fingerprint, purpose="bot ingest") as store:
        report = run_ingest(list(paths) or None, settings, store, embedder, rebuild=rebuild, progress=not no_progress)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for item in report.skipped:
            click.echo(f"{'failed' if item.failed else 'skipped'} {item.path}: {item.reason}", err=True)
        click.echo(report.summary())
    if report.failed:
        raise IngestFailed(
            f"{len(report.failed)} file(s) failed to be read (listed above); the rest of the index is up to date"
        )


@cli.command()
@click.argument("question")
@click.option("--json", "as_json", is_flag=True, help="Print the Answer as one JSON object.")
@click.option("--kind", "kinds", multiple=True, type=click.Choice(["note", "inquiry", "source"]),
              help="Only notes of this kind (repeatable).")
@click.option("--tag", "tags", multiple=True, help="Only notes with this tag (repeatable).")
@click.option("--note", "note_ids", multiple=True, help="Only this note id (repeatable).")
def ask(question: str, as_json: bool, kinds, tags, note_ids) -> None:
    """Answer QUESTION from the notes, quoting them with numbered citations.

    Uses the configured index, building it from BOT_NOTES_DIR first if there
    is none. Links are relative to the app's root, or absolute under
    BOT_PUBLIC_URL when it is set. Exits with status 2 for an empty or
    over-long question.
    """
    from .query.answer import check_question
    from .service import Bot, with_public_urls

    settings = load_settings()
    check_question(question, settings.max_question_chars)  # before the slow part
    filters = {"kinds": list(kinds), "tags": list(tags), "note_ids": list(note_ids)}
    with Bot.open(settings) as notes:
        answer = with_public_urls(notes.ask(question, None, filters), settings.public_url)
    if as_json:
        click.echo(answer.model_dump_json())
    else:
        click.echo(answer.answer)


@cli.command()
@click.option("--host", help="Address to listen on (default BOT_HOST, 127.0.0.1).")
@click.option("--port", type=int, help="Port to listen on (default BOT_PORT, 7860).")
@click.option("--root-path", help="URL prefix behind a reverse proxy, e.g. /bot (default BOT_ROOT_PATH).")
@click.option("--notes", "notes_dir", help="Folder(s) of notes, ':'-separated (default BOT_NOTES_DIR).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="App processes, on ports PORT, PORT+1, ...; needs a Chroma server (BOT_CHROMA_HOST).")
def serve(host: str | None, port: int | None, root_path: str | None, notes_dir: str | None, workers: int) -> None:
    """Run the chat app in the browser over the notes: http://127.0.0.1:7860 by default.

    Serves the last built index at once (building it first if there is none)
    and brings it up to date in the background, embedding only changed notes;
    then rescans the notes folders every BOT_RESCAN_SECONDS, and the page's
    Index panel has a re-index button. The same as `python app.py`.

    With a Chroma server (BOT_CHROMA_HOST or BOT_CHROMA_URL) the app never
    ingests: `bot ingest` updates the server, and each worker picks up the new
    version by itself. `--workers N` runs N such workers, each on its own port
    (a worker that dies is restarted); put a reverse proxy with sticky sessions
    in front of them (deploy/nginx/notes-bot.conf).
    """
    from .web.server import serve as run_server
    from .web.workers import run_workers

    overrides = {"host": host, "port": port, "root_path": root_path, "notes_dir": notes_dir}
    settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    if workers > 1:
        sys.exit(run_workers(settings, workers))
    sys.exit(run_server(settings))


@cli.command("eval")
@click.option("--beir", "beir_dir", required=True, type=click.Path(path_type=Path, file_okay=False),
              help="A BEIR-format folder: corpus.jsonl, queries.jsonl, qrels/<split>.tsv.")
@click.option("--split", default=None, help="Which qrels/<split>.tsv (default: the only one there).")
@click.option("--out", "out", type=click.Path(path_type=Path, dir_okay=False),
              help="Write the JSON here (default: stdout).")
@click.option("--fusion", type=click.Choice(["weighted", "rrf", "dense", "lexical"]), default="weighted",
              show_default=True, help="Fusion, or one retriever alone (a baseline).")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def evaluate(beir_dir: Path, split: str | None, out: Path | None, fusion: str, no_progress: bool) -> None:
    """Measure retrieval and quoting on a BEIR dataset, through the chat's own read path.

    The corpus is ingested into its own store under the data dir (keyed by the
    corpus file's hash: the second run starts at once). Prints a metrics table
    on stderr; writes {"metrics", "run", "quotes"} as JSON to --out or stdout.
    """
    from dataclasses import replace

    from .query.params import DEFAULT_ANSWER_PARAMS
    from .tools.evaluate import evaluate as run_eval
    from .tools.evaluate import metrics_table

    params = replace(DEFAULT_ANSWER_PARAMS, retrieval=replace(DEFAULT_ANSWER_PARAMS.retrieval, fusion=fusion))
    result, data = run_eval(beir_dir, split, load_settings(), params=params, progress=not no_progress)
    text = json.dumps(result)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)
    click.echo(f"{data.directory.name} {data.split}: {len(data.queries)} queries, fusion {fusion}", err=True)
    click.echo(metrics_table({data.split: result["metrics"]}), err=True)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path, file_okay=False),
              help="Where to save the adapted model (default: under the data dir).")
@click.option("--epochs", default=1, show_default=True, type=click.IntRange(1, 20))
@click.option("--batch-size", default=32, show_default=True, type=click.IntRange(4, 512))
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def adapt(paths: tuple[Path, ...], out: Path | None, epochs: int, batch_size: int, no_progress: bool) -> None:
    """Adapt the embedding model to your notes (opt-in; minutes on a CPU).

    Fine-tunes BOT_EMBEDDING_MODEL so each note's title lands nearest its own
    text (contrastive, the other notes as negatives), reading the notes under
    PATHS (default: BOT_NOTES_DIR). Prints the cost and the model folder; set
    BOT_EMBEDDING_MODEL to it to use it (a new index is built for it on first use).
    """
    from .notes.collection import build_notes
    from .notes.files import read_notes
    from .tools.adapt import AdaptParams
    from .tools.adapt import adapt as run_adapt

    settings = load_settings()
    parsed, skipped, _ = read_notes([Path(p) for p in paths] or settings.notes_dirs, settings)
    for item in skipped:
        click.echo(f"skipped {item.path}: {item.reason}", err=True)
    notes = build_notes(parsed)
    try:
        report = run_adapt(notes, settings, out, params=AdaptParams(epochs=epochs, batch_size=batch_size),
                           progress=not no_progress)
    except ValueError as exc:  # too few notes to learn from, say: the message says so
        raise InputError(str(exc)) from None
    click.echo(report.summary())
    click.echo(f"export BOT_EMBEDDING_MODEL={report.model_dir}")


# --- users and tokens ----------------------------------------------------------------------------


def _accounts():
    from .auth.accounts import Accounts

    return Accounts(load_settings().users_path)


@cli.group()
def users() -> None:
    """Who may sign in: the users file (BOT_USERS_FILE, default users.json in the data dir).

    Passwords are stored as scrypt hashes. Workers notice changes at once;
    removing a user or changing a password ends their sessions.
    """


@users.command("add")
@click.argument("name")
@click.option("--replace", is_flag=True, help="Set a new password for an existing user.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input (for scripts).")
def users_add(name: str, replace: bool, password_stdin: bool) -> None:
    """Add user NAME; prompts for the password (twice)."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
    accounts = _accounts()
    accounts.add_user(name, password, replace=replace)
    click.echo(f"{'updated' if replace else 'added'} {name} in {accounts.path}")


@users.command("remove")
@click.argument("name")
def users_remove(name: str) -> None:
    """Remove user NAME and their API tokens; their sessions end at once."""
    accounts = _accounts()
    accounts.remove_user(name)
    click.echo(f"removed {name} from {accounts.path}")


@users.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON on stdout.")
def users_list(as_json: bool) -> None:
    """List the users (names, when added, how many tokens)."""
    found = _accounts().users()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    if not found:
        click.echo("no users yet: add one with `bot users add NAME`", err=True)
    for user in found:
        click.echo(f"{user['name']}\tadded {user['created_at']}\t{user['tokens']} token(s)")


@cli.group()
def tokens() -> None:
    """API tokens: `Authorization: Bearer nb_...` instead of a password. Stored hashed."""


@tokens.command("create")
@click.argument("user")
@click.option("--label", default="", help="What the token is for (shown by `bot tokens list`).")
def tokens_create(user: str, label: str) -> None:
    """Create a token for USER and print it (the only time it is shown)."""
    token = _accounts().create_token(user, label)
    click.echo(token.secret)
    click.echo(f"token {token.id} for {user}: keep it secret; revoke it with `bot tokens revoke {token.id}`", err=True)


@tokens.command("list")
@click.option("--user", help="Only this user's tokens.")
@click.option("--json", "as_json", is_flag=True, help="As JSON on stdout.")
def tokens_list(user: str | None, as_json: bool) -> None:
    """List tokens (id, user, label, created; never the secret)."""
    found = _accounts().tokens(user)
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for token in found:
        click.echo(f"{token['id']}\t{token['user']}\t{token['created_at']}\t{token['label']}")


@tokens.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str) -> None:
    """Revoke the token with id TOKEN_ID (from `bot tokens list`)."""
    user = _accounts().revoke_token(token_id)
    click.echo(f"revoked token {token_id} of {user}")


@cli.command("settings")
@click.option("--markdown", is_flag=True, help="As the Markdown table the README shows.")
def show_settings(markdown: bool) -> None:
    """List every setting: its environment variable, current value and meaning."""
    from .tools.docs import settings_table

    if markdown:
        click.echo(settings_table())
        return
    current = load_settings()
    for name in Settings.model_fields:
        click.echo(f"BOT_{name.upper()}={getattr(current, name)}")


def main() -> None:
    cli(obj={})


if __name__ == "__main__":
    main()
