"""``client.data``'s files and preview (over the REST routes of issue 15's data pages)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember.client.mlclient import MLClient
from ember.entities.data import DataAsset
from ember.errors import InvalidInputError, NotFoundError


def test_files_read_and_preview(app_client: MLClient, tmp_path: Path) -> None:
    folder = tmp_path / "sales"
    (folder / "q").mkdir(parents=True)
    (folder / "q" / "one.csv").write_text("region,amount\nnorth,3\nsouth,4\n")
    (folder / "about.txt").write_text("sales figures\n")
    app_client.data.create_or_update(DataAsset(name="sales", version="1", type="uri_folder",
                                               path=str(folder)))
    assert app_client.data.list_files("sales", "1") == ["about.txt", "q/one.csv"]
    assert app_client.data.read_file("sales", "1", "about.txt") == b"sales figures\n"
    shown = app_client.data.preview("sales", "1", rows=1)
    assert (shown["path"], shown["columns"], shown["rows"], shown["truncated"]) == (
        "q/one.csv", ["region", "amount"], [["north", "3"]], True)
    with pytest.raises(InvalidInputError, match="escapes its root"):
        app_client.data.preview("sales", "1", path="../x.csv")
    with pytest.raises(NotFoundError):
        app_client.data.read_file("sales", "1", "nope.csv")
    app_client.data.create_or_update(DataAsset(name="one", version="1", type="uri_file",
                                               path=str(folder / "q" / "one.csv")))
    assert app_client.data.read_file("one", "1").startswith(b"region,amount")
