"""Upload local folders/files (code, inputs, data) as content-addressed snapshots."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from ember.artifacts.snapshot import collect_files, tree_hash, write_tar
from ember.client.http import Http
from ember.errors import InvalidInputError

if TYPE_CHECKING:
    from rich.progress import Progress


def progress(show: bool | None = None) -> Progress:
    if show is None:
        show = sys.stderr.isatty()
    # rich is imported here, when a transfer starts: most commands never upload.
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TransferSpeedColumn

    return Progress("[progress.description]{task.description}", BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), console=Console(stderr=True), disable=not show,
                    transient=False)


def upload(http: Http, kind: str, local: Path, what: str,
           show_progress: bool | None = None, *, base: str | None = None) -> str:
    """Upload ``local`` unless the server already has it; return the URI to reference it by.
    ``base``: where the uploads go (``/api/v1/registries/<r>`` for a registry's), else the
    client's workspace."""
    root = base if base is not None else http.ws("")
    local = Path(local)
    if not local.exists():
        raise InvalidInputError(f"{what}: {local} does not exist")
    files = collect_files(local)
    digest = tree_hash(files)
    probe = http.json("GET", f"{root}/uploads/{kind}/{digest}")
    if not probe["exists"]:
        with tempfile.TemporaryFile() as tmp:
            write_tar(files, tmp)
            size = tmp.tell()
            tmp.seek(0)
            with progress(show_progress) as bar:
                task = bar.add_task(f"Uploading {what}", total=size)

                def body() -> Iterator[bytes]:
                    while chunk := tmp.read(1 << 20):
                        bar.advance(task, len(chunk))
                        yield chunk

                probe = http.json("PUT", f"{root}/uploads/{kind}/{digest}", content=body(),
                                  headers={"Content-Type": "application/gzip"})
    uri: str = probe["uri"]
    if kind == "data" and local.is_file():
        uri = f"{uri}/{local.name}"
    return uri
