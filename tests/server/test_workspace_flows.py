"""Workspace flows (``/flows``): created from files or a template, read as a graph, files and
nodes changed (flow.dag.yaml keeps its comments and order), paths confined to the flow's
folder, runs submitted as flow-run jobs; a Reader reads but changes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ember.client.workspace_flows import read_folder

WS = "/api/v1/workspaces/default"
IFELSE = Path(__file__).resolve().parents[1] / "flows" / "flows" / "ifelse"


def _create(client: TestClient, name: str = "branchy") -> dict[str, Any]:
    r = client.post(f"{WS}/flows", json={"name": name, "files": read_folder(IFELSE)})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_flow_from_files_reads_back_as_a_graph(client: TestClient) -> None:
    flow = _create(client)
    assert flow["error"] is None
    assert set(flow["files"]) == {"flow.dag.yaml", "branch.py", "classify.py", "merge.py"}
    assert [n["name"] for n in flow["nodes"]] == ["classify", "on_even", "on_odd", "merge"]
    on_even = next(n for n in flow["nodes"] if n["name"] == "on_even")
    assert on_even["activate"] == {"when": "${classify.output.is_even}", "is": True}
    edges = {(e["from"], e["to"], e["kind"]) for e in flow["edges"]}
    assert ("inputs.number", "classify", "data") in edges
    assert ("classify", "on_even", "activate") in edges
    assert ("on_odd", "merge", "data") in edges
    assert ("merge", "outputs.result", "output") in edges
    assert client.get(f"{WS}/flows").json() == [{"name": "branchy"}]
    assert client.get(f"{WS}/flows/branchy/files/merge.py").text.startswith("from promptflow")
    again = client.post(f"{WS}/flows", json={"name": "branchy", "template": "python"})
    assert again.json()["error_code"] == "RESOURCE_ALREADY_EXISTS"
    assert client.delete(f"{WS}/flows/branchy").status_code == 204
    assert client.get(f"{WS}/flows/branchy").status_code == 404


def test_files_change_and_a_bad_flow_dag_is_refused_whole(client: TestClient) -> None:
    _create(client)
    r = client.put(f"{WS}/flows/branchy/files/merge.py", json={"content": "# new\n"})
    assert r.status_code == 200
    assert client.get(f"{WS}/flows/branchy/files/merge.py").text == "# new\n"
    r = client.put(f"{WS}/flows/branchy/files/flow.dag.yaml",
                   json={"content": "nodes:\n- name: x\n  type: python\n"})
    assert r.status_code == 400 and "flow branchy" in r.json()["message"]
    assert "classify" in client.get(f"{WS}/flows/branchy/files/flow.dag.yaml").text
    big = "x" * ((1 << 20) + 1)
    assert client.put(f"{WS}/flows/branchy/files/big.py", json={"content": big}
                      ).status_code == 400


@pytest.mark.parametrize("path", ["../escape.py", "a/../../escape.py", "..%2Fescape.py",
                                  "%2Fetc%2Fpasswd", ".hidden", "a//b.py", "a\\b.py"])
def test_a_path_outside_the_flow_folder_is_refused(client: TestClient, path: str) -> None:
    _create(client, "confined")
    r = client.put(f"{WS}/flows/confined/files/{path}", json={"content": "x"})
    assert r.status_code in (400, 404), (path, r.status_code, r.text)
    assert client.get(f"{WS}/flows/confined/files/{path}").status_code in (400, 404)
    home: Path = client.app.state.platform.settings.home  # type: ignore[attr-defined]
    assert not list(home.rglob("escape.py"))


def test_nodes_are_added_changed_and_removed_keeping_comments(client: TestClient) -> None:
    r = client.post(f"{WS}/flows", json={"name": "tpl", "template": "python"})
    assert r.status_code == 201, r.text
    before = client.get(f"{WS}/flows/tpl/files/flow.dag.yaml").text
    r = client.post(f"{WS}/flows/tpl/nodes", json={
        "name": "echo", "type": "python", "inputs": {"value": "${shout.output}"}})
    assert r.status_code == 201, r.text
    flow = r.json()
    assert "echo.py" in flow["files"]
    assert ("shout", "echo", "data") in {(e["from"], e["to"], e["kind"]) for e in flow["edges"]}
    dag = client.get(f"{WS}/flows/tpl/files/flow.dag.yaml").text
    assert dag.startswith("# A flow of Python nodes")
    r = client.patch(f"{WS}/flows/tpl/nodes/echo", json={"inputs": {"value": "${inputs.text}"},
                                                         "activate": {"when": "${inputs.text}",
                                                                      "is": "go"}})
    assert r.status_code == 200, r.text
    echo = next(n for n in r.json()["nodes"] if n["name"] == "echo")
    assert echo["inputs"] == {"value": "${inputs.text}"} and echo["activate"]["is"] == "go"
    # a node others read cannot go
    r = client.delete(f"{WS}/flows/tpl/nodes/shout")
    assert r.status_code == 409 and "output result" in r.json()["message"]
    r = client.delete(f"{WS}/flows/tpl/nodes/echo")
    assert r.status_code == 200
    assert [n["name"] for n in r.json()["nodes"]] == ["shout"]
    assert "echo.py" not in r.json()["files"]
    assert client.get(f"{WS}/flows/tpl/files/flow.dag.yaml").text == before


def test_a_variant_of_a_node_is_changed_on_its_own(client: TestClient) -> None:
    folder = IFELSE.parent / "variants"
    assert client.post(f"{WS}/flows", json={"name": "styles", "files": read_folder(folder)}
                       ).status_code == 201
    r = client.patch(f"{WS}/flows/styles/nodes/format", json={
        "variant": "variant_1", "inputs": {"text": "${inputs.text}", "style": "title"}})
    assert r.status_code == 200, r.text
    node = r.json()["nodes"][0]
    assert node["variants"] == ["variant_0", "variant_1", "variant_2"]
    assert node["variant_bodies"]["variant_1"]["inputs"]["style"] == "title"
    assert node["variant_bodies"]["variant_0"]["inputs"]["style"] == "plain"
    assert client.patch(f"{WS}/flows/styles/nodes/format", json={
        "variant": "nope", "inputs": {}}).status_code == 404
    # a node with variants goes with them and their file, once no output reads it
    client.put(f"{WS}/flows/styles/files/flow.dag.yaml", json={"content": client.get(
        f"{WS}/flows/styles/files/flow.dag.yaml").text.replace(
        "reference: ${format.output}", "reference: ${inputs.text}")}).raise_for_status()
    r = client.delete(f"{WS}/flows/styles/nodes/format")
    assert r.status_code == 200, r.text
    assert r.json()["nodes"] == [] and "fmt.py" not in r.json()["files"]
    assert "node_variants" not in client.get(f"{WS}/flows/styles/files/flow.dag.yaml").text


def test_a_run_is_a_flow_run_job_of_the_stored_flow(client: TestClient) -> None:
    _create(client)
    r = client.post(f"{WS}/flows/branchy/runs", json={"lines": [{"number": 2}]})
    assert r.status_code == 201, r.text
    job = r.json()
    assert job["properties"]["ember.flow_run"] == "true"
    assert job["properties"]["ember.workspace_flow"] == "branchy"
    assert job["code"].startswith("codes/")
    assert "ember.flows.batch" in job["command"]
    assert client.post(f"{WS}/flows/branchy/runs", json={}).status_code == 400


def test_a_reader_reads_flows_but_changes_nothing(client: TestClient) -> None:
    _create(client)
    auth = client.app.state.platform.auth  # type: ignore[attr-defined]
    auth.create_user("rita")
    auth.assign_role("rita", "default", "Reader")
    token = auth.create_token("rita")[1]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get(f"{WS}/flows/branchy", headers=headers).status_code == 200
    r = client.put(f"{WS}/flows/branchy/files/merge.py", json={"content": "x"}, headers=headers)
    assert r.status_code == 403
    assert client.post(f"{WS}/flows/branchy/nodes", json={"name": "n"},
                       headers=headers).status_code == 403
    assert client.post(f"{WS}/flows/branchy/runs", json={"lines": [{"number": 1}]},
                       headers=headers).status_code == 403
