"""A data asset's files over the REST API: the list, one file, and a preview of a tabular
file's first rows (issue 15: the studio's data pages read them), confined to the asset."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from ember.server.app import create_app
from ember.settings import Settings

WS = "/api/v1/workspaces/default"


@contextlib.contextmanager
def _client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings, start_scheduler=False)
    with TestClient(app) as tc:
        tc.headers["Authorization"] = f"Bearer {app.state.platform.owner_token}"
        yield tc


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    top = tmp_path / "allowed" / "lake"
    (top / "iris" / "more").mkdir(parents=True)
    (top / "iris" / "README.md").write_text("iris, a few rows\n")
    (top / "iris" / "a.csv").write_text("x,y,label\n1,2,a\n3,4,b\n5,6,c\n")
    (top / "iris" / "more" / "b.tsv").write_text("p\tq\n1\t2\n")
    (top / "table").mkdir()
    (top / "table" / "rows.txt").write_text("k;v\none;1\ntwo;2\n")
    (top / "table" / "MLTable").write_text(
        "paths:\n  - file: ./rows.txt\ntransformations:\n  - read_delimited:\n"
        "      delimiter: ';'\n")
    (top / "secret.csv").write_text("not,yours\n1,2\n")
    return top


@pytest.fixture
def api(tmp_path: Path, lake: Path) -> Iterator[TestClient]:
    work = tmp_path / "work"
    work.mkdir()
    with _client(Settings(home=tmp_path / "home", port=0, working_dir=str(work),
                          allowed_datastore_roots=(str(lake.parent),))) as tc:
        tc.put(f"{WS}/datastores/lake", json={"name": "lake", "root": str(lake)}
               ).raise_for_status()
        for name, kind, path in [("iris", "uri_folder", "iris"),
                                 ("iris-file", "uri_file", "iris/a.csv"),
                                 ("table", "mltable", "table")]:
            tc.post(f"{WS}/data", json={"name": name, "version": "1", "type": kind,
                                        "path": f"azureml://datastores/lake/paths/{path}"}
                    ).raise_for_status()
        yield tc


def test_a_folders_files_are_listed_relative_to_it(api: TestClient) -> None:
    r = api.get(f"{WS}/data/iris/versions/1/files")
    assert r.status_code == 200, r.text
    assert r.json() == {"count": 3, "files": [
        {"path": "README.md", "size": 17}, {"path": "a.csv", "size": 28},
        {"path": "more/b.tsv", "size": 8}]}
    assert api.get(f"{WS}/data/iris-file/versions/1/files").json()["files"] == [
        {"path": "a.csv", "size": 28}]


def test_one_file_downloads(api: TestClient) -> None:
    r = api.get(f"{WS}/data/iris/versions/1/files/more/b.tsv")
    assert r.status_code == 200 and r.content == b"p\tq\n1\t2\n"
    assert api.get(f"{WS}/data/iris-file/versions/1/files/a.csv").content.startswith(b"x,y")


@pytest.mark.parametrize("path", ["../secret.csv", "more/../../secret.csv", "..%2Fsecret.csv"])
def test_a_path_out_of_the_asset_is_refused(api: TestClient, path: str) -> None:
    r = api.get(f"{WS}/data/iris/versions/1/files/{path}")
    assert r.status_code in (400, 404), r.text
    assert b"not,yours" not in r.content
    p = api.get(f"{WS}/data/iris/versions/1/preview", params={"path": "../secret.csv"})
    assert p.status_code == 400
    assert "escapes its root" in p.json()["message"]


def test_a_missing_file_is_a_404_naming_it(api: TestClient) -> None:
    r = api.get(f"{WS}/data/iris/versions/1/preview", params={"path": "nope.csv"})
    assert r.status_code == 404
    assert r.json()["message"] == "data asset 'iris:1' has no file 'nope.csv'"


def test_a_folder_previews_its_first_tabular_file(api: TestClient) -> None:
    r = api.get(f"{WS}/data/iris/versions/1/preview", params={"rows": 2})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["path"], body["format"]) == ("a.csv", "csv")
    assert body["columns"] == ["x", "y", "label"]
    assert body["rows"] == [["1", "2", "a"], ["3", "4", "b"]] and body["truncated"]
    assert body["file_count"] == 3
    tsv = api.get(f"{WS}/data/iris/versions/1/preview", params={"path": "more/b.tsv"}).json()
    assert (tsv["format"], tsv["columns"], tsv["rows"]) == ("tsv", ["p", "q"], [["1", "2"]])
    text = api.get(f"{WS}/data/iris/versions/1/preview", params={"path": "README.md"}).json()
    assert text["format"] == "" and "only CSV, TSV and Parquet" in text["note"]


def test_a_file_and_an_mltable_preview(api: TestClient) -> None:
    one = api.get(f"{WS}/data/iris-file/versions/1/preview").json()
    assert one["path"] == "a.csv" and len(one["rows"]) == 3 and not one["truncated"]
    table = api.get(f"{WS}/data/table/versions/1/preview").json()
    assert table["path"] == "rows.txt"
    assert table["columns"] == ["k", "v"] and table["rows"] == [["one", "1"], ["two", "2"]]


def test_parquet_previews_with_pyarrow(api: TestClient, lake: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"n": [1, 2, 3], "s": ["a", "b", None]}),
                   lake / "iris" / "more" / "c.parquet")
    body = api.get(f"{WS}/data/iris/versions/1/preview",
                   params={"path": "more/c.parquet"}).json()
    assert (body["format"], body["columns"]) == ("parquet", ["n", "s"])
    assert body["rows"] == [["1", "a"], ["2", "b"], ["3", ""]] and not body["truncated"]


def test_rows_are_bounded_and_remote_assets_are_not_read(api: TestClient) -> None:
    assert api.get(f"{WS}/data/iris/versions/1/preview", params={"rows": 1000}
                   ).status_code == 400
    api.post(f"{WS}/data", json={"name": "web", "version": "1", "type": "uri_file",
                                 "path": "https://example.com/x.csv"}).raise_for_status()
    r = api.get(f"{WS}/data/web/versions/1/preview")
    assert r.status_code == 400 and "outside the workspace's datastores" in r.json()["message"]
