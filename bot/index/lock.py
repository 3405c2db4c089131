"""The embedded store's lock: one owner process per persistent Chroma directory.

Chroma's on-disk store is not safe for two processes at once; an exclusive, non-blocking
flock beside it (recording the owner's PID and purpose) turns a second opener into a clear
message instead of lost data.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
from pathlib import Path

from ..errors import StoreLocked


class StoreLock:
    """An exclusive, non-blocking flock on the embedded store, recording the owner's PID."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle = None

    def acquire(self, purpose: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            raise StoreLocked(_locked_message(self.path.parent, owner)) from None
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "purpose": purpose, "host": socket.gethostname()}))
        handle.flush()
        self._handle = handle

    def release(self) -> None:
        if self._handle is not None:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None


def _locked_message(directory: Path, owner: str) -> str:
    try:
        info = json.loads(owner)
        who = f"process {info['pid']} ({info.get('purpose', 'bot')})"
        serving = info.get("purpose", "").startswith("app")
    except (ValueError, KeyError):
        who, serving = f"another process ({owner})", False
    advice = (
        "The running app keeps the index current itself (it rescans the notes folder; "
        "use its re-index button to do it now)."
        if serving
        else "Wait for it to finish or stop it."
    )
    return (
        f"The notes store at {directory} is in use by {who}. Chroma's on-disk store is not safe "
        f"for two processes at once. {advice} To share one index between processes, run a "
        "Chroma server (`chroma run --path DIR`) and set BOT_CHROMA_HOST/BOT_CHROMA_PORT."
    )
