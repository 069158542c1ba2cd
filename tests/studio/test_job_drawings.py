"""The job page's server-drawn SVG (step graph layers and layout, Gantt, parallel coordinates)
and its file viewers' choices, without a browser."""

from __future__ import annotations

from ember.server.studio.pages import _job_files as files
from ember.server.studio.pages import _job_svg as svg


def _step(name: str, *ups: str, status: str = "Completed", job: str | None = None,
          reused: str | None = None) -> dict[str, object]:
    return {"step": name, "status": status, "job": job or f"p-{name}", "depends_on": list(ups),
            "reused_from": reused}


def test_layers_follow_the_longest_chain_and_survive_a_cycle() -> None:
    steps = [_step("a"), _step("b", "a"), _step("c", "a"), _step("d", "b", "c", "a")]
    assert svg.layers(steps) == {"a": 0, "b": 1, "c": 1, "d": 2}
    where = svg.layout(steps)
    assert where["b"][0] == where["c"][0] > where["a"][0]
    assert where["b"][1] != where["c"][1]
    looped = [_step("x", "y"), _step("y", "x")]
    assert set(svg.layers(looped)) == {"x", "y"}


def test_step_graph_links_steps_marks_reuse_and_escapes_names() -> None:
    steps = [_step("prep"), _step("<train>", "prep", reused="old-train"),
             _step("score", "<train>", "prep", status="NotStarted")]
    steps[2]["job"] = None
    drawn = str(svg.step_graph("ws 1", steps))
    assert drawn.count('class="step-link"') == 2          # a step not started has no job yet
    assert 'href="/ws/ws%201/jobs/p-prep"' in drawn
    assert "&lt;train&gt;" in drawn and "<train>" not in drawn
    assert drawn.count("↺ reused") == 1
    assert drawn.count('class="edge"') == 3
    assert 'class="step st-idle"' in drawn


def test_gantt_and_parallel_coordinates() -> None:
    rows = [{"step": "a", "status": "Completed", "start": 100.0, "end": 110.0},
            {"step": "b", "status": "Running", "start": 105.0, "end": None},
            {"step": "c", "status": "NotStarted"}]
    chart = str(svg.gantt("w", rows, now=120.0))
    assert chart.count('<rect class="bar') == 2 and "10.0 s" in chart
    trials = [{"trial": 0, "parameters": {"lr": 0.001, "opt": "sgd"}, "objective": 0.5},
              {"trial": 1, "parameters": {"lr": 0.1, "opt": "adam"}, "objective": 0.2,
               "best": True},
              {"trial": 2, "parameters": {"lr": 0.01, "opt": "sgd"}, "objective": None}]
    pc = str(svg.parallel_coordinates(trials, "loss"))
    assert pc.count("<polyline") == 2 and pc.count('class="trial best"') == 1
    assert "(log)" in pc                                  # lr spans two decades
    assert pc.rindex("trial best") > pc.index('class="trial"')   # the best is drawn on top


def test_viewers_pick_by_content_and_cut_huge_files() -> None:
    csv_view = files.view("t.csv", b"a,b\n1,2\n3,4\n5,", 100)
    assert csv_view["kind"] == "csv" and csv_view["rows"] == [["1", "2"], ["3", "4"]]
    assert csv_view["truncated"]
    assert files.view("c.json", b'{"a": [1]}', 10)["text"] == '{\n  "a": [\n    1\n  ]\n}'
    assert files.view("c.json", b'{"a": [1', 100)["kind"] == "text"   # a cut JSON file
    assert files.view("x.bin", b"\0\1\2", 3)["kind"] == "binary"
    assert files.view("p.PNG", b"", 5)["kind"] == "image"
    assert files.asset_href("w", "uri_folder", "azureml:clean:3") == (
        "/ws/w/data/clean/3", "clean:3")
    assert files.asset_href("w", "mlflow_model", "azureml:m@latest") == (
        "/ws/w/models/m/latest", "m:latest")
    assert files.asset_href("w", "uri_file", "azureml://datastores/x/paths/y") is None
