"""The studio's data asset pages (issue 15, item 4): the list, an asset's versions, and a
version's details with its files and a preview of a CSV, TSV or Parquet file's first rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.client.mlclient import MLClient
from ember.entities.data import DataAsset
from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible


@pytest.fixture(scope="module")
def client(studio_server: ServerProc) -> Iterator[MLClient]:
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as c:
        yield c


@pytest.fixture(scope="module")
def assets(client: MLClient, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Tiny CSV files as a uri_file (two versions), a uri_folder and an mltable."""
    top = tmp_path_factory.mktemp("data")
    (top / "points.csv").write_text("x,y,label\n0.5,1.5,red\n2.5,3.5,blue\n4.5,5.5,red\n")
    client.data.create_or_update(DataAsset(name="points", version="1", type="uri_file",
                                           path=str(top / "points.csv"),
                                           description="Three points", tags={"kind": "toy"}))
    (top / "v2").mkdir()
    (top / "v2" / "points.csv").write_text("x,y,label\n9,9,green\n")
    client.data.create_or_update(DataAsset(name="points", version="2", type="uri_file",
                                           path=str(top / "v2" / "points.csv")))
    folder = top / "weather"
    (folder / "extra").mkdir(parents=True)
    (folder / "NOTES.md").write_text("daily readings\n")
    (folder / "days.csv").write_text("day,temp\nmon,12\ntue,14\n")
    (folder / "extra" / "nights.tsv").write_text("night\ttemp\nmon\t4\n")
    import pyarrow as pa
    import pyarrow.parquet as pq
    pq.write_table(pa.table({"city": ["Oslo", "Lima"], "rain": [1.5, 0.0]}),
                   folder / "extra" / "cities.parquet")
    client.data.create_or_update(DataAsset(name="weather", version="1", type="uri_folder",
                                           path=str(folder)))
    table = top / "table"
    table.mkdir()
    (table / "rows.txt").write_text("k|v\none|1\ntwo|2\n")
    (table / "MLTable").write_text("paths:\n  - file: ./rows.txt\ntransformations:\n"
                                   "  - read_delimited:\n      delimiter: '|'\n")
    client.data.create_or_update(DataAsset(name="pipe-table", version="1", type="mltable",
                                           path=str(table)))
    return {}


def test_the_list_and_a_versions_page(studio: Watched, assets: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/data")
    expect(page.get_by_role("link", name="points", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="points version 2")).to_be_visible()
    expect(page.get_by_role("link", name="Data", exact=True)).to_have_attribute(
        "aria-current", "page")
    assert_accessible(page)
    studio.screenshot("data-list")
    studio.open("/ws/default/data?q=EATH")
    expect(page.get_by_role("link", name="weather", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="points", exact=True)).to_have_count(0)
    studio.open("/ws/default/data")
    page.get_by_role("link", name="points", exact=True).click()
    page.wait_for_url("**/data/points")
    assert_accessible(page)
    page.get_by_role("link", name="points version 1").click()
    page.wait_for_url("**/data/points/1")
    expect(page.locator("#preview-table")).to_be_visible()


def test_a_csv_files_rows_show(studio: Watched, assets: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/data/points/1")
    props = page.locator("dl.props")
    expect(props).to_contain_text("uri_file")
    expect(props).to_contain_text("workspaceblobstore")
    expect(props).to_contain_text("Three points")
    table = page.locator("#preview-table")
    expect(table.locator("thead th")).to_have_text(["x", "y", "label"])
    expect(table.locator("tbody tr")).to_have_count(3)
    expect(table.locator("tbody tr").nth(1)).to_have_text("2.53.5blue")
    assert_accessible(page)
    studio.screenshot("data-detail")


def test_a_folder_previews_its_first_table_and_lists_its_files(
        studio: Watched, assets: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/data/weather/1")
    expect(page.get_by_role("heading", name="Preview of days.csv")).to_be_visible()
    expect(page.locator("#preview-table tbody tr")).to_have_count(2)
    expect(page.get_by_role("link", name="extra/nights.tsv", exact=True)).to_be_visible()
    page.get_by_role("link", name="extra/cities.parquet", exact=True).click()
    page.wait_for_url("**/data/weather/1?file=extra/cities.parquet*")
    expect(page.locator("#preview-table thead th")).to_have_text(["city", "rain"])
    expect(page.locator("#preview-table tbody tr").first).to_have_text("Oslo1.5")
    assert_accessible(page)
    studio.screenshot("data-detail-folder")
    studio.open("/ws/default/data/pipe-table/1")
    expect(page.get_by_role("heading", name="Preview of rows.txt")).to_be_visible()
    expect(page.locator("#preview-table thead th")).to_have_text(["k", "v"])


def test_a_bad_preview_path_is_a_clear_error(studio: Watched, studio_server: ServerProc,
                                             assets: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/data/weather/1?file=../../owner.token")
    expect(page.get_by_role("alert")).to_contain_text("escapes its root")
    expect(page.get_by_role("link", name="days.csv", exact=True)).to_be_visible()   # still listed
    studio.open("/ws/default/data/weather/1?file=missing.csv")
    expect(page.get_by_role("alert")).to_have_text(
        "data asset 'weather:1' has no file 'missing.csv'")
    answer = httpx.get(f"{studio_server.api()}/data/weather/versions/1/preview",
                       params={"path": "../x.csv"}, timeout=30,
                       headers={"Authorization": f"Bearer {studio_server.token}"})
    assert answer.status_code == 400 and "escapes its root" in answer.json()["message"]
