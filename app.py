"""Run the bot over the configured notes (default: seeds/).

Until the chat UI lands, this brings the index up to date and prints a summary.
"""

from __future__ import annotations

import logging
import sys

from bot.cli import _setup_logging
from bot.embeddings import Embedder
from bot.ingest import ingest
from bot.settings import Settings
from bot.store import Store, StoreError


def main() -> int:
    _setup_logging(0, False)
    settings = Settings()
    embedder = Embedder.load(settings)
    try:
        with Store.open(settings, embedder.fingerprint, purpose="app") as store:
            report = ingest(None, settings, store, embedder)
    except StoreError as exc:
        logging.error("%s", exc)
        return 1
    print(report.summary())
    return 0


if __name__ == "__main__":
    sys.exit(main())
