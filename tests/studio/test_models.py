"""The studio's model pages (issue 15, item 4): the list with its filters, a model's
versions, a version's details (lineage, files, MLflow signature), archive and restore, and
registering a model from a job's output with the form."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.client.builders import load_job
from ember.client.mlclient import MLClient
from ember.entities.models import Model
from tests.conftest import ServerProc, wait_ended
from tests.studio.conftest import Watched, assert_accessible, open_context

REPO = Path(__file__).resolve().parents[2]
READER = "models-reader"


@pytest.fixture(scope="module")
def client(studio_server: ServerProc) -> Iterator[MLClient]:
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as c:
        yield c


@pytest.fixture(scope="module")
def hello_job(client: MLClient) -> str:
    """The repo's hello job, which writes model.json to its ``model`` output; started first
    so it runs while the rest is made."""
    return str(client.jobs.create_or_update(load_job(REPO / "examples/hello/job.yml")).name)


@pytest.fixture(scope="module")
def seeded(studio_server: ServerProc, client: MLClient, hello_job: str,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An MLflow sklearn model with a signature (logged by the mlflow client), and a custom
    model whose only version is archived."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    before = os.environ.get("MLFLOW_TRACKING_TOKEN")
    os.environ["MLFLOW_TRACKING_TOKEN"] = studio_server.token
    try:
        mlflow.set_tracking_uri(client.mlflow_tracking_uri)
        mlflow.set_experiment("studio-models")
        x = [[5.1, 3.5], [6.2, 2.9], [4.9, 3.0], [6.7, 3.1]]
        y = [0, 1, 0, 1]
        import pandas as pd
        frame = pd.DataFrame(x, columns=["sepal_length", "sepal_width"])
        clf = LogisticRegression().fit(frame, y)
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(clf, name="model",
                                     signature=infer_signature(frame, clf.predict(frame)),
                                     pip_requirements=["scikit-learn"])
    finally:
        mlflow.set_tracking_uri(None)
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_TOKEN", None)
        else:
            os.environ["MLFLOW_TRACKING_TOKEN"] = before
    made = httpx.post(f"{studio_server.api()}/models", headers=_owner(studio_server), json={
        "name": "iris-clf", "type": "mlflow_model", "path": f"runs:/{run.info.run_id}/model",
        "description": "Iris classifier", "tags": {"flavor": "sklearn", "team": "vision"}},
        timeout=60)
    assert made.status_code == 201, made.text
    folder = tmp_path_factory.mktemp("old-model")
    (folder / "weights.txt").write_text("0.5 0.25\n")
    client.models.create_or_update(Model(name="old-model", path=str(folder),
                                         type="custom_model", tags={"team": "legacy"}))
    client.models.archive("old-model", 1)
    return {"run": run.info.run_id}


def _owner(server: ServerProc) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.token}"}


def test_the_list_filters_by_name_and_tag_and_hides_archived_models(
        studio: Watched, seeded: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/models")
    expect(page.get_by_role("link", name="iris-clf", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="old-model", exact=True)).to_have_count(0)
    expect(page.get_by_role("link", name="Models", exact=True)).to_have_attribute(
        "aria-current", "page")
    assert_accessible(page)
    studio.screenshot("models-list")
    page.get_by_label("Show archived").check()
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**/models?*archived=1*")
    expect(page.get_by_role("link", name="old-model", exact=True)).to_be_visible()
    studio.open("/ws/default/models?tag=team%3Dvision&archived=1")
    expect(page.get_by_role("link", name="iris-clf", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="old-model", exact=True)).to_have_count(0)
    studio.open("/ws/default/models?q=OLD&archived=1")
    expect(page.get_by_role("link", name="old-model", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="iris-clf", exact=True)).to_have_count(0)


def test_a_versions_page_lists_them_and_opens_one(studio: Watched,
                                                   seeded: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/models/iris-clf")
    assert_accessible(page)
    page.get_by_role("link", name="iris-clf version 1").click()
    page.wait_for_url("**/models/iris-clf/1")
    expect(page.get_by_role("heading", level=1)).to_contain_text("iris-clf")


def test_a_version_shows_its_signature_files_and_lineage_and_is_archived_then_restored(
        studio: Watched, studio_server: ServerProc, seeded: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/models/iris-clf/1")
    inputs = page.locator("#signature table").first
    expect(inputs).to_contain_text("sepal_length")
    expect(inputs).to_contain_text("double")
    expect(page.locator("#signature")).to_contain_text("Outputs")
    expect(page.locator("dl.props")).to_contain_text("Iris classifier")
    expect(page.locator("dl.props")).to_contain_text("flavor=sklearn")
    expect(page.locator("dl.props")).to_contain_text(f"MLflow run {seeded['run']}")
    assert_accessible(page)
    studio.screenshot("models-detail")
    # the MLmodel file, shown as text
    page.get_by_role("link", name="MLmodel", exact=True).click()
    page.wait_for_url("**/models/iris-clf/1?file=MLmodel*")
    expect(page.get_by_label("Contents of MLmodel")).to_contain_text("flavors:")
    download = page.get_by_role("link", name="Download MLmodel")
    assert download.get_attribute("href") == (
        "/api/v1/workspaces/default/models/iris-clf/versions/1/files/MLmodel")
    # archive, then restore
    page.get_by_role("button", name="Archive").click()
    expect(page.get_by_role("button", name="Restore")).to_be_visible()
    expect(page.locator("#archived-badge")).to_be_visible()
    got = httpx.get(f"{studio_server.api()}/models/iris-clf", params={"version": 1},
                    headers=_owner(studio_server), timeout=30).json()
    assert got["archived"] is True
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_role("button", name="Archive")).to_be_visible()
    expect(page.locator("#archived-badge")).to_be_hidden()
    got = httpx.get(f"{studio_server.api()}/models/iris-clf", params={"version": 1},
                    headers=_owner(studio_server), timeout=30).json()
    assert got["archived"] is False


def test_a_model_is_registered_from_a_jobs_output_with_the_keyboard(
        studio: Watched, studio_server: ServerProc, client: MLClient, hello_job: str,
        seeded: dict[str, Any]) -> None:
    assert wait_ended(client, hello_job, timeout=180).status == "Completed"
    page = studio.page
    studio.open("/ws/default/models")
    page.get_by_role("link", name="Register from a job").click()
    page.wait_for_url("**/register-model")
    studio.open(f"/ws/default/register-model?job={hello_job}")
    expect(page.get_by_label("Job name")).to_have_value(hello_job)
    assert_accessible(page)
    studio.screenshot("models-register")
    page.get_by_label("Job name").focus()
    page.keyboard.press("Tab")
    page.keyboard.type("model")
    page.keyboard.press("Tab")                   # the path within the output: left empty
    page.keyboard.press("Tab")
    page.keyboard.type("hello-model")
    page.keyboard.press("Enter")
    page.wait_for_url("**/ws/default/models/hello-model/1")
    expect(page.get_by_role("link", name=hello_job)).to_have_attribute(
        "href", f"/ws/default/jobs/{hello_job}")
    page.get_by_role("link", name="model.json", exact=True).click()
    page.wait_for_url("**/models/hello-model/1?file=model.json*")
    expect(page.get_by_label("Contents of model.json")).to_contain_text('"w1": ')
    # a wrong output name: the form again, with the API's reason and the values kept
    studio.open(f"/ws/default/register-model?job={hello_job}")
    page.get_by_label("Output name").fill("nothing")
    page.get_by_label("Model name").fill("hello-model")
    # the browser logs the refused form post as a console error: that one is expected
    with page.expect_console_message(lambda m: m.type == "error"), \
            page.expect_response(lambda r: r.url.endswith("/register-model")) as answer:
        page.get_by_role("button", name="Register").click()
    studio.errors.clear()
    assert answer.value.status in (400, 404)
    expect(page.get_by_role("alert")).to_contain_text("nothing")
    studio.screenshot("models-register-error")
    expect(page.get_by_label("Model name")).to_have_value("hello-model")


def test_a_reader_sees_no_archive_or_register_and_the_api_refuses(
        browser: Any, studio_server: ServerProc, seeded: dict[str, Any]) -> None:
    headers = _owner(studio_server)
    httpx.post(f"{studio_server.url}/api/v1/users", headers=headers, timeout=30,
               json={"name": READER, "password": "reader password 1"}).raise_for_status()
    httpx.post(f"{studio_server.api()}/roles", headers=headers, timeout=30,
               json={"user": READER, "role": "Reader"}).raise_for_status()
    token = httpx.post(f"{studio_server.url}/api/v1/tokens", auth=(READER, "reader password 1"),
                       json={"name": "t", "expires_in_days": 1}, timeout=30).json()["token"]
    context = open_context(browser, studio_server, token=token)
    watched = Watched(context.new_page(), studio_server.url)
    page = watched.page
    try:
        watched.open("/ws/default/models")
        expect(page.get_by_role("link", name="iris-clf", exact=True)).to_be_visible()
        expect(page.get_by_role("link", name="Register from a job")).to_have_count(0)
        watched.open("/ws/default/models/iris-clf/1")
        expect(page.locator("#signature")).to_be_visible()
        expect(page.get_by_role("button", name="Archive")).to_have_count(0)
        assert_accessible(page)
        # the browser logs the refused request as a console error: that one is expected
        with page.expect_console_message(lambda m: m.type == "error"):
            status = page.evaluate("""async () => {
                try { await Ember.api('POST', Ember.ws('/models/iris-clf/archive?version=1'));
                      return 200; } catch (e) { return e.status; } }""")
        assert status == 403
        watched.errors.clear()
        watched.open("/ws/default/register-model")
        expect(page.locator("form#register-form")).to_have_count(0)
        expect(page.locator("main")).to_contain_text("You may not register models")
    finally:
        context.close()
    assert not watched.errors, "\n".join(watched.errors)
