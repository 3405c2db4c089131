"""The served index: a store, its embedder, and the snapshot of the newest committed version.

    index = Index(settings, store, embedder, load_snapshot(store, version, embedder.dimension, root))
    index.snapshot          # one consistent version; swapped whole by refresh()
    index.partial           # None, or what the served version lacks (a first build's partial one)
    index.refresh()         # True when a newer committed version was loaded

Opening (and building when there is nothing yet) is the service's job (`bot.service.Bot`):
nothing on the read side builds an index.
"""

from __future__ import annotations

import logging
import threading

from ..models import PartialIndex
from ..settings import Settings
from .embedder import Embedder
from .partial import committed, partial_of
from .snapshot import Snapshot, cache_root, load_snapshot
from .store import Store

log = logging.getLogger(__name__)


class Index:
    """A store, its embedder, and the snapshot of the newest committed version."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder, snapshot: Snapshot,
                 partial: PartialIndex | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._served = (snapshot, partial)
        self._refresh_lock = threading.Lock()

    @classmethod
    def load(cls, settings: Settings, store: Store, embedder: Embedder) -> Index:
        """The newest committed version of `store` (and whether it is a partial one), served."""
        return cls(settings, store, embedder, *_served(settings, store, embedder, committed(store)))

    @property
    def snapshot(self) -> Snapshot:
        return self._served[0]

    @property
    def partial(self) -> PartialIndex | None:
        """None when the served version is complete; else how many notes it holds of how many."""
        return self._served[1]

    def refresh(self) -> bool:
        """Load the newest committed version if it changed; True when it did."""
        with self._refresh_lock:
            metadata = committed(self.store)
            if int(metadata.get("index_version", 0)) == self.snapshot.version:
                return False
            self._served = _served(self.settings, self.store, self.embedder, metadata)  # one assignment: whole
            log.info("now serving index version %d%s", self.snapshot.version, " (partial)" if self.partial else "")
            return True

    def close(self) -> None:
        self.store.close()


def _served(settings: Settings, store: Store, embedder: Embedder, metadata: dict) -> tuple[Snapshot, PartialIndex | None]:
    """The snapshot of the version `metadata` commits, and what it lacks. The metadata is read
    before loading: a version's partial flag never changes once it is committed."""
    snapshot = load_snapshot(store, int(metadata.get("index_version", 0)), embedder.dimension,
                             cache_root(settings), shared=settings.share_index_memory)
    return snapshot, partial_of(metadata, len(snapshot.notes))
