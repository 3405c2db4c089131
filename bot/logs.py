"""Logging for the command line and the app: one format, levels from -v / -q, noisy libraries quieted."""

from __future__ import annotations

import logging
import sys

NOISY = ("httpx", "chromadb", "sentence_transformers", "urllib3", "bm25s", "transformers")


def setup_logging(verbose: int = 0, quiet: bool = False) -> None:
    """INFO by default, DEBUG with -vv, WARNING with -q; third-party chatter at WARNING or above."""
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
    )
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
