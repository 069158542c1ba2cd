"""Prompt flow authoring in the studio: a flow kept in the workspace drawn as a graph, a node
edited in the browser (keyboard only) and saved to flow.dag.yaml and its file, nodes added and
removed, a test run showing each node's output and trace, batch and evaluation runs side by
side; a Reader sees no edit button and the API refuses them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.client.mlclient import MLClient
from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible, open_context

FLOWS = Path(__file__).resolve().parents[1] / "flows"
IFELSE = FLOWS / "flows" / "ifelse"
VARIANTS = FLOWS / "flows" / "variants"
EVAL = FLOWS / "runs" / "evalflow"


def _wait(ml: MLClient, job: str) -> str:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status = ml.jobs.get(job).status
        if status in ("Completed", "Failed", "Canceled"):
            return str(status)
        time.sleep(0.2)
    raise AssertionError(f"run {job} did not end")


@pytest.fixture(scope="module")
def ml(studio_server: ServerProc) -> Iterator[MLClient]:
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as client:
        for name, folder in (("branchy", IFELSE), ("styles", VARIANTS), ("judge", EVAL)):
            if name not in client.workspace_flows.list():
                client.workspace_flows.create(name, folder)
        yield client


def _owner(server: ServerProc) -> httpx.Client:
    return httpx.Client(base_url=server.api(), timeout=30,
                        headers={"Authorization": f"Bearer {server.token}"})


def test_the_flow_list_and_graph_show_nodes_edges_and_conditions(
        studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows")
    expect(page.get_by_role("link", name="branchy", exact=True)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="branchy", exact=True).click()
    page.wait_for_url("**/ws/default/flows/branchy")
    graph = page.locator("svg.flow-graph")
    for node in ("classify", "on_even", "on_odd", "merge"):
        expect(graph.locator(f'a.box[data-node="{node}"]')).to_be_visible()
    assert graph.locator('path.edge.activate[data-from="classify"][data-to="on_even"]').count() == 1
    assert graph.locator('path.edge[data-from="on_odd"][data-to="merge"]').count() == 1
    assert graph.locator('[data-box="inputs.number"]').count() == 1
    expect(graph.locator('a.box[data-node="on_even"]')).to_have_attribute(
        "aria-label", "Node on_even, when ${classify.output.is_even} is True")
    assert_accessible(page)
    studio.screenshot("flows-graph")


def test_a_flow_folder_is_uploaded_from_the_list(studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows")
    page.fill("#upload-flow-name", "uploaded")
    page.set_input_files("#upload-flow-folder", str(IFELSE))
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/ws/default/flows/uploaded")
    expect(page.locator('svg.flow-graph a.box[data-node="merge"]')).to_be_visible()
    assert set(ml.workspace_flows.get("uploaded")["files"]) == {
        "flow.dag.yaml", "branch.py", "classify.py", "merge.py"}
    page.get_by_text("Delete this flow").click()
    page.get_by_role("button", name="Delete flow uploaded").click()
    page.wait_for_url("**/ws/default/flows")
    assert "uploaded" not in ml.workspace_flows.list()


def test_a_node_edited_with_the_keyboard_is_saved_and_a_test_run_shows_each_node(
        studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows/branchy")
    page.locator('a.box[data-node="merge"]').click()
    page.wait_for_url("**/flows/branchy?node=merge")
    code = page.locator("#node-code")
    expect(code).to_have_value(ml.workspace_flows.read_file("branchy", "merge.py"))
    # keyboard only: the code, then Tab to Save and Enter
    code.focus()
    page.keyboard.press("Control+End")
    page.keyboard.press("Backspace")   # the file's last newline
    page.keyboard.type(' + " (edited)"\n')
    page.keyboard.press("Tab")
    expect(page.locator("#save-node")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_contain_text("Node merge saved.")
    assert ml.workspace_flows.read_file("branchy", "merge.py").rstrip().endswith(
        'return even or odd + " (edited)"')
    # an input changed in the editor lands in flow.dag.yaml
    page.fill('.node-input[data-key="odd"]', "${on_odd.output}")
    page.fill('.node-input[data-key="even"]', "${on_even.output}")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.click("#save-node")
    assert patched.value.status == 200
    assert "odd: ${on_odd.output}" in ml.workspace_flows.read_file("branchy", "flow.dag.yaml")
    # a test run: each node's output and the trace
    page.fill('.test-input[data-key="number"]', "3")
    page.click("#run-test")
    table = page.locator("#node-outputs")
    page.locator("#node-outputs, #form-error:not(:empty)").first.wait_for(timeout=60_000)
    assert page.inner_text("#form-error") == ""
    expect(table.locator('tr[data-node="classify"]')).to_contain_text('{"is_even":false}')
    expect(table.locator('tr[data-node="on_even"]')).to_contain_text("Bypassed")
    expect(table.locator('tr[data-node="merge"]')).to_contain_text("3 is odd (edited)")
    expect(page.locator("#trace li").first).to_contain_text("branchy CHAIN")
    assert page.locator("#trace li").count() >= 4
    assert_accessible(page)
    studio.screenshot("flows-node-editor")


def test_a_variant_is_edited_on_its_own(studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows/styles?node=format")
    nav = page.get_by_role("navigation", name="Variants of format")
    expect(nav.get_by_role("link", name="variant_0 (default)")).to_have_attribute(
        "aria-current", "true")
    nav.get_by_role("link", name="variant_2").click()
    page.wait_for_url("**/flows/styles?node=format&variant=variant_2")
    expect(page.locator('.node-input[data-key="repeat"]')).to_have_value("2")
    page.fill('.node-input[data-key="repeat"]', "3")
    with page.expect_response(lambda r: r.request.method == "PATCH") as patched:
        page.click("#save-node")
    assert patched.value.status == 200
    bodies = ml.workspace_flows.get("styles")["nodes"][0]["variant_bodies"]
    assert bodies["variant_2"]["inputs"]["repeat"] == 3
    assert "repeat" not in bodies["variant_0"]["inputs"]
    assert_accessible(page)


def test_flow_dag_yaml_is_edited_as_a_file_and_a_bad_one_is_refused(
        studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows/judge")
    page.get_by_role("link", name="Files").click()
    page.wait_for_url("**/flows/judge/files/flow.dag.yaml")
    text = page.locator("#file-text")
    original = text.input_value()
    text.fill("inputs: [\n")
    page.click("#save-file")
    expect(page.locator("#form-error")).to_contain_text("flow judge")
    studio.errors.clear()   # the browser logs the refused request
    text.fill("# judged by the studio\n" + original)
    page.click("#save-file")
    expect(page.locator("#notice")).to_contain_text("flow.dag.yaml saved.")
    assert ml.workspace_flows.read_file("judge", "flow.dag.yaml").startswith(
        "# judged by the studio\n")
    assert_accessible(page)


def test_a_node_is_added_then_removed(studio: Watched, ml: MLClient) -> None:
    page = studio.page
    studio.open("/ws/default/flows/branchy")
    page.get_by_text("Add a node").click()
    page.fill("#add-node-name", "tap")
    page.fill("#add-node-inputs", "value: ${merge.output}")
    page.get_by_role("button", name="Add node").click()
    page.wait_for_url("**/flows/branchy?node=tap")
    expect(page.locator('svg.flow-graph a.box[data-node="tap"]')).to_be_visible()
    assert page.locator('path.edge[data-from="merge"][data-to="tap"]').count() == 1
    dag = ml.workspace_flows.read_file("branchy", "flow.dag.yaml")
    assert "- name: tap" in dag and "tap.py" in ml.workspace_flows.get("branchy")["files"]
    page.get_by_role("button", name="Remove node").click()
    page.wait_for_url("**/flows/branchy")
    expect(page.locator('svg.flow-graph a.box[data-node="merge"]')).to_be_visible()
    assert page.locator('svg.flow-graph a.box[data-node="tap"]').count() == 0
    assert "tap" not in ml.workspace_flows.read_file("branchy", "flow.dag.yaml")
    assert "tap.py" not in ml.workspace_flows.get("branchy")["files"]


def test_batch_runs_show_per_line_results_and_variants_side_by_side(
        studio: Watched, ml: MLClient) -> None:
    page = studio.page
    # a batch run from the page
    studio.open("/ws/default/flows/styles/runs")
    page.fill("#batch-lines", '{"text": "ada"}\n{"text": "bob"}')
    page.select_option("#batch-variant", "${format.variant_1}")
    page.fill("#batch-name", "upper")
    page.get_by_role("button", name="Submit run").click()
    page.wait_for_url("**/flows/styles/runs?run=*", timeout=60_000)
    lines = page.locator("#lines-table tbody tr")
    expect(lines).to_have_count(2)
    expect(lines.nth(0)).to_contain_text("ADA")
    upper = page.url.split("run=")[1]
    # a second variant and an evaluation of it, through the SDK
    plain = ml.workspace_flows.run("styles", lines=[{"text": "ada"}, {"text": "bob"}],
                                   variant="${format.variant_0}", display_name="plain")
    assert _wait(ml, plain.name) == "Completed"
    judged = ml.workspace_flows.run("judge", run=plain.name, column_mapping={
        "groundtruth": "${data.text}", "prediction": "${run.outputs.output}"})
    assert _wait(ml, judged.name) == "Completed"
    studio.open(f"/ws/default/flows/styles/runs?run={upper}&run={plain.name}")
    header = page.locator("#lines-table thead")
    expect(header).to_contain_text(upper)
    expect(header).to_contain_text(plain.name)
    # the evaluation's metric beside the run it evaluated
    expect(page.locator("#metrics-table tbody")).to_contain_text("judge.accuracy")
    row = page.locator('#lines-table tr[data-line="1"]')
    expect(row).to_contain_text("BOB")
    expect(row).to_contain_text("bob")
    expect(page.locator("#metrics-table thead")).to_contain_text("${format.variant_1}")
    assert_accessible(page)
    studio.screenshot("flows-runs")
    studio.open(f"/ws/default/flows/judge/runs?run={judged.name}")
    expect(page.locator("#metrics-table")).to_contain_text("accuracy")
    expect(page.locator("#metrics-table")).to_contain_text("1.0")


def test_a_reader_sees_no_edit_buttons_and_the_api_refuses_their_edit(
        browser: Any, studio_server: ServerProc, ml: MLClient) -> None:
    with _owner(studio_server) as owner:
        users = owner.get(f"{studio_server.url}/api/v1/users").json()
        if not any(u.get("name") == "flow-reader" for u in users):
            owner.post(f"{studio_server.url}/api/v1/users", json={
                "name": "flow-reader", "password": "reader password 2"}).raise_for_status()
            owner.post("/roles", json={"user": "flow-reader", "role": "Reader"}
                       ).raise_for_status()
    token = httpx.post(f"{studio_server.url}/api/v1/tokens", json={"name": "t"}, timeout=30,
                       auth=("flow-reader", "reader password 2")).json()["token"]
    context = open_context(browser, studio_server, token=token)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{studio_server.url}/ws/default/flows/branchy?node=merge")
    expect(page.locator("#node-code")).to_be_visible()
    for control in ("#save-node", "#remove-node", "#add-node", "#run-test"):
        assert page.locator(control).count() == 0, control
    assert page.locator("#node-code").get_attribute("readonly") is not None
    status = page.evaluate("""async () => {
        try { await Ember.api('PUT', Ember.ws('/flows/branchy/files/merge.py'),
                              {content: 'x'}); return 200; }
        catch (e) { return e.status; } }""")
    assert status == 403
    assert "x" != ml.workspace_flows.read_file("branchy", "merge.py")
    assert not errors
    context.close()


def test_a_path_outside_the_flow_is_refused(studio_server: ServerProc, ml: MLClient) -> None:
    with _owner(studio_server) as owner:
        for path in ("../escape.py", "..%2F..%2Fescape.py", "%2Fetc%2Fescape.py"):
            answer = owner.put(f"/flows/branchy/files/{path}", json={"content": "x"})
            assert answer.status_code in (400, 404), (path, answer.text)
    assert not list(studio_server.home.rglob("escape.py"))
