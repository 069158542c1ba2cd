"""The audit log: every mutating request and every denied one, appended in the background.

``record`` only queues the entry (the request does not wait for the database); a writer thread
appends what has queued in one transaction, at least every ``flush_seconds``. Reading
(``list``) and closing flush first, so a reader sees every request answered before it asked.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from ember.entities.audit import AuditEntry
from ember.store.audit import AuditStore

log = logging.getLogger(__name__)
MAX_LIST = 10_000


class AuditLog:
    def __init__(self, store: AuditStore, flush_seconds: float = 0.5) -> None:
        self.store = store
        self.flush_seconds = flush_seconds
        self._queue: deque[AuditEntry] = deque()
        self._write_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ember-audit", daemon=True)
            self._thread.start()

    def record(self, entry: AuditEntry) -> None:
        self._queue.append(entry)
        if self._thread is None:     # no writer (an app without background threads)
            self.flush()
        elif len(self._queue) >= 500:
            self._wake.set()

    def flush(self) -> None:
        with self._write_lock:
            batch: list[AuditEntry] = []
            while self._queue:
                batch.append(self._queue.popleft())
            if not batch:
                return
            try:
                self.store.append(batch)
            except Exception:
                # put them back in order: the next flush tries again; nothing is dropped
                self._queue.extendleft(reversed(batch))
                raise

    def list(self, *, workspace: str | None = None, user: str | None = None,
             since: float | None = None, limit: int = 1000) -> list[AuditEntry]:
        self.flush()
        return self.store.list(workspace=workspace, user=user, since=since,
                               limit=max(1, min(limit, MAX_LIST)))

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except Exception:
                log.exception("audit log: appending failed; will retry")

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        try:
            self.flush()
        except Exception:
            log.exception("audit log: the last entries could not be written")
