"""The compare page (``/ws/<ws>/compare?jobs=a,b``): overlaid metric charts, the params/metrics
table and its "hide equal columns" toggle, the scatter of any two values."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible, session_cookie
from tests.studio.test_jobs_list import submit_jobs


@pytest.fixture(scope="module")
def jobs(studio_server: ServerProc) -> Iterator[None]:
    submit_jobs(studio_server)
    yield


def traces(page: Any, selector: str) -> list[dict[str, Any]]:
    return page.evaluate("(sel) => document.querySelector(sel).data.map("
                         "(t) => ({name: t.name, x: t.x, y: t.y}))", selector)


def test_compare_two_jobs(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/compare?jobs=jl-a1,jl-a2")
    charts = page.locator(".compare-charts .js-plotly-plot")
    expect(charts).to_have_count(2)
    assert [c.get_attribute("data-metric") for c in charts.all()] == ["accuracy", "loss"]
    loss = traces(page, ".chart[data-metric=loss]")
    assert len(loss) == 2 and all(len(t["x"]) == 30 for t in loss)
    assert loss[0]["y"][0] == 5.0 and loss[0]["y"][-1] == pytest.approx(5.0 / 30)
    assert_accessible(page)

    table = page.locator("#diff")
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(2)
    epochs = table.locator("th[data-column='param:epochs']")
    lr = table.locator("th[data-column='param:lr']")
    expect(epochs).to_be_visible()
    expect(table.locator("th[data-column='metric:loss:min']")).to_be_visible()
    page.get_by_label("Hide columns that are equal").check()
    expect(epochs).to_be_hidden()            # 10 and 10
    expect(table.locator("th[data-column='metric:loss:max']")).to_be_hidden()  # 5.0 both
    expect(lr).to_be_visible()               # 0.1 and 0.01
    assert "hide_equal=1" in page.url

    page.select_option("#scatter-x", "param:lr")
    page.select_option("#scatter-y", "metric:loss:last")
    points = traces(page, "#scatter")
    assert sorted((p["x"][0], round(p["y"][0], 4)) for p in points) == [
        (0.01, round(5.0 / (1 + 0.5 * 29), 4)), (0.1, round(5.0 / 30, 4))]
    assert "x=param%3Alr" in page.url and "y=metric%3Aloss%3Alast" in page.url
    studio.screenshot("compare")
    # the URL is the page: opened again, the same choices
    studio.open(page.url.replace(studio.base, ""))
    expect(page.get_by_label("Hide columns that are equal")).to_be_checked()
    expect(page.locator("#scatter-x")).to_have_value("param:lr")
    expect(epochs).to_be_hidden()


def test_the_form_s_selection_gets_one_stable_url(studio_server: ServerProc, jobs: None
                                                 ) -> None:
    cookie = session_cookie(studio_server)
    r = httpx.get(f"{studio_server.url}/ws/default/compare?jobs=jl-a1&jobs=jl-b1",
                  cookies={cookie["name"]: cookie["value"]}, timeout=30)
    assert r.status_code == 303
    assert r.headers["location"] == "/ws/default/compare?jobs=jl-a1,jl-b1"


def test_jobs_without_metrics_and_no_jobs(studio: Watched, jobs: None) -> None:
    page = studio.page
    studio.open("/ws/default/compare?jobs=jl-b1,jl-c1")
    expect(page.get_by_text("These jobs logged no metrics.")).to_be_visible()
    studio.open("/ws/default/compare")
    expect(page.get_by_role("link", name="Jobs").last).to_be_visible()
    response = studio.open("/ws/default/compare?jobs=jl-a1,no-such-job")
    assert response.status == 404
    studio.errors.clear()   # the browser logs the 404 of the page itself
