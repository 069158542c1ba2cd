"""Payload collection (Azure's ``data_collector`` request/response collections).

A sampled payload becomes one JSON line in ``<folder>/<YYYY>/<MM>/<DD>/<HH>/data.jsonl`` (UTC
hour of the record; ``folder`` is a local path, or an fsspec URL such as ``s3://bucket/key``
when the artifact store is remote, opened with the credentials of this process's environment)::

    {"id": <correlation id>, "time": "2025-01-31T09:15:02.123Z", "endpoint": <endpoint name>,
     "deployment": <deployment name>, "data": <payload parsed as JSON, else its text>,
     "latency_ms": <request arrival to answer, responses only>}

The event loop only enqueues raw bytes; one writer thread parses, serialises and appends, so the
scoring path never waits on disk and lines never interleave (a single writer per process, and
each batch for a file goes out in one ``write``).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
from datetime import UTC, datetime

import orjson

log = logging.getLogger("ember.serving.router")

# folder, id, epoch seconds, endpoint, deployment, payload, latency (ms) of a response
_Item = tuple[str, str, float, str, str, bytes, float | None]
_STOP = ("", "", 0.0, "", "", b"", None)
_BATCH = 1000


class PayloadCollector:
    """Appends sampled payloads to hourly JSONL files from a background thread."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._failed: set[str] = set()
        self._thread = threading.Thread(target=self._run, name="ember-router-collector",
                                        daemon=True)
        self._thread.start()

    def submit(self, folder: str, record_id: str, when: float, endpoint: str, deployment: str,
               payload: bytes, latency_ms: float | None = None) -> None:
        """Queue one record; returns at once. A response's record carries the time from the
        request's arrival to its answer (``latency_ms``), which latency monitors read."""
        self._queue.put((folder, record_id, when, endpoint, deployment, payload, latency_ms))

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the writer thread."""
        self._queue.put(_STOP)
        self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            batch = [self._queue.get()]
            while len(batch) < _BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            files: dict[str, list[bytes]] = {}
            for item in batch:
                if item is _STOP:
                    stop = True
                    continue
                path, line = _render(item)
                files.setdefault(path, []).append(line)
            for path, lines in files.items():
                self._append(path, b"".join(lines))

    def _append(self, path: str, data: bytes) -> None:
        try:
            if "://" in path:
                # An object store: fsspec appends by rewriting the object (s3fs copies the
                # existing parts), so a batch is still one write. Imported here: a router
                # without collection to a remote store never pays for fsspec.
                import fsspec

                with fsspec.open(path, "ab") as fh:
                    fh.write(data)
                return
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "ab") as fh:
                fh.write(data)
        except Exception as exc:   # OSError, or an object store client's own errors
            if path not in self._failed:   # once per file, not once per request
                self._failed.add(path)
                log.warning("payload collection: cannot append to %s: %s", path, exc)


def _render(item: _Item) -> tuple[str, bytes]:
    folder, record_id, when, endpoint, deployment, payload, latency_ms = item
    moment = datetime.fromtimestamp(when, UTC)
    path = os.path.join(folder, f"{moment:%Y}", f"{moment:%m}", f"{moment:%d}", f"{moment:%H}",
                        "data.jsonl")
    record: dict[str, object] = {
        "id": record_id, "time": moment.isoformat(timespec="milliseconds")[:-6] + "Z",
        "endpoint": endpoint, "deployment": deployment, "data": None}
    if latency_ms is not None:
        record["latency_ms"] = round(latency_ms, 3)
    try:
        record["data"] = orjson.loads(payload)
        return path, orjson.dumps(record) + b"\n"
    except orjson.JSONDecodeError:
        pass
    text = payload.decode("utf-8", errors="replace")
    try:
        # orjson refuses what json accepts (NaN, integers past 64 bits): keep those as JSON too.
        record["data"] = json.loads(text)
    except ValueError:
        record["data"] = text
    return path, json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
