"""The served index: a store, its embedder, and the snapshot of the newest committed version.

    index = Index(settings, store, embedder, load_snapshot(store, version, embedder.dimension, root))
    index.snapshot          # one consistent version; swapped whole by refresh()
    index.refresh()         # True when a newer committed version was loaded

Opening (and building when there is nothing yet) is the service's job (`bot.service.Bot`):
nothing on the read side builds an index.
"""

from __future__ import annotations

import logging
import threading

from ..settings import Settings
from .embedder import Embedder
from .snapshot import Snapshot, cache_root, load_snapshot
from .store import Store

log = logging.getLogger(__name__)


class Index:
    """A store, its embedder, and the snapshot of the newest committed version."""

    def __init__(self, settings: Settings, store: Store, embedder: Embedder, snapshot: Snapshot) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self._snapshot = snapshot
        self._refresh_lock = threading.Lock()

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def refresh(self) -> bool:
        """Load the newest committed version if it changed; True when it did."""
        with self._refresh_lock:
            version = self.store.version()
            if version == self._snapshot.version:
                return False
            snapshot = load_snapshot(self.store, version, self.embedder.dimension, cache_root(self.settings),
                                     shared=self.settings.share_index_memory)
            self._snapshot = snapshot  # one assignment: readers see the old or the new, whole
            log.info("now serving index version %d", version)
            return True

    def close(self) -> None:
        self.store.close()

