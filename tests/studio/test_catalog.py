"""The model catalog pages: cards, a model card, and the Deploy and Fine-tune forms, whose YAML
the CLI's own loaders accept and whose submission the REST API takes."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.entities.data import DataAsset
from tests.conftest import ServerProc
from tests.studio.conftest import Watched, assert_accessible

MODEL = "SmolLM2-135M-Instruct"


@pytest.fixture(scope="module")
def chat_data(studio_server: ServerProc, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny chat-format jsonl registered as a uri_file data asset."""
    from ember.client.mlclient import MLClient
    folder = tmp_path_factory.mktemp("catalog-data")
    train = folder / "train.jsonl"
    train.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"say {i}"},
        {"role": "assistant", "content": f"{i}"}]}) + "\n" for i in range(4)))
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as ml:
        made = ml.data.create_or_update(DataAsset(name="catalog-chat", version="1",
                                                  type="uri_file", path=str(train)))
    return f"azureml:{made.name}:{made.version}"


def _api(server: ServerProc) -> httpx.Client:
    return httpx.Client(base_url=server.api(), timeout=30,
                        headers={"Authorization": f"Bearer {server.token}"})


def _yaml_file(studio: Watched, name: str, tmp: Path) -> Path:
    text = studio.page.locator(f'pre[data-file="{name}"]').inner_text()
    path = tmp / name
    path.write_text(text)
    return path


def test_the_catalog_shows_cards_and_a_model_card(studio: Watched) -> None:
    page = studio.page
    studio.open("/ws/default/catalog")
    card = page.locator(f'.model-card[data-model="{MODEL}"]')
    expect(card).to_contain_text("chat-completion")
    expect(card).to_contain_text("135M parameters")
    expect(card).to_contain_text("8192 tokens")
    expect(card).to_contain_text("apache-2.0")
    expect(card).to_contain_text("llama.cpp")
    assert page.get_by_role("link", name="Model catalog").get_attribute("aria-current") == "page"
    assert_accessible(page)
    studio.screenshot("catalog-list")
    card.get_by_role("link", name=MODEL, exact=True).click()
    page.wait_for_url(f"**/ws/default/catalog/{MODEL}")
    expect(page.locator(".model-facts")).to_contain_text(
        f"azureml://registries/azureml/models/{MODEL}/versions/1")
    assert_accessible(page)
    studio.screenshot("catalog-model")


def test_a_model_missing_from_the_catalog_is_a_404_page(studio: Watched) -> None:
    answer = studio.open("/ws/default/catalog/no-such-model")
    studio.errors.clear()   # the browser logs the 404 of the page itself
    assert answer.status == 404
    expect(studio.page.locator("main")).to_contain_text("no-such-model")


def test_the_deploy_form_shows_the_cli_yaml_and_creates_the_endpoint(
        studio: Watched, studio_server: ServerProc, tmp_path: Path) -> None:
    from ember.specs.online_endpoints import (load_online_deployment_spec,
                                              load_online_endpoint_spec)
    from ember.specs.serverless_endpoints import load_serverless_endpoint_spec
    page = studio.page
    studio.open(f"/ws/default/catalog/{MODEL}/deploy")
    page.fill("#endpoint-name", "smol-studio")
    spec = load_serverless_endpoint_spec(_yaml_file(studio, "endpoint.yml", tmp_path))
    assert (spec.name, spec.model_id) == (
        "smol-studio", f"azureml://registries/azureml/models/{MODEL}")
    # the online kind: two files, the runtime chosen in the form; the URL keeps the kind
    page.get_by_label("Online endpoint with a deployment").check()
    page.wait_for_url("**/deploy?kind=online")
    page.select_option("#runtime", "llama.cpp")
    endpoint = load_online_endpoint_spec(_yaml_file(studio, "endpoint.yml", tmp_path))
    deployment = load_online_deployment_spec(_yaml_file(studio, "deployment.yml", tmp_path))
    assert endpoint.name == "smol-studio"
    assert (deployment.endpoint_name, deployment.model, deployment.runtime,
            deployment.environment_variables) == (
        "smol-studio", f"azureml://registries/azureml/models/{MODEL}/versions/1", "llama.cpp",
        {"EMBER_LLM_THREADS": "1"})
    assert_accessible(page)
    studio.screenshot("catalog-deploy-form")
    # a bad name: the API's own message shows under the form
    page.get_by_label("Serverless endpoint").check()
    page.fill("#endpoint-name", "-bad name")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#form-error")).to_contain_text("-bad name")
    studio.errors.clear()   # the browser logs the refused request
    # submitted: the API has the endpoint the YAML describes
    page.fill("#endpoint-name", "smol-studio")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#notice")).to_contain_text("smol-studio")
    with _api(studio_server) as api:
        made = api.get("/serverless-endpoints/smol-studio").json()
        assert made["model_id"] == spec.model_id
        api.delete("/serverless-endpoints/smol-studio").raise_for_status()


def test_the_online_kind_creates_the_endpoint_and_its_llama_cpp_deployment(
        studio: Watched, studio_server: ServerProc) -> None:
    page = studio.page
    studio.open(f"/ws/default/catalog/{MODEL}/deploy?kind=online")
    page.fill("#endpoint-name", "smol-online")
    page.select_option("#runtime", "llama.cpp")
    page.get_by_role("button", name="Deploy").click()
    expect(page.locator("#notice")).to_contain_text("smol-online")
    with _api(studio_server) as api:
        made = api.get("/online-endpoints/smol-online/deployments/default").json()
        assert (made["model"], made["runtime"], made["environment_variables"]) == (
            f"azureml://registries/azureml/models/{MODEL}/versions/1", "llama.cpp",
            {"EMBER_LLM_THREADS": "1"})
        # SmolLM2 on llama.cpp, one thread: it starts in seconds; the traffic follows
        deadline = time.monotonic() + 120
        while made["provisioning_state"] not in ("Succeeded", "Failed") and \
                time.monotonic() < deadline:
            time.sleep(0.5)
            made = api.get("/online-endpoints/smol-online/deployments/default").json()
        assert made["provisioning_state"] == "Succeeded", made["error"]
        assert api.get("/online-endpoints/smol-online").json()["traffic"] == {"default": 100}
        api.delete("/online-endpoints/smol-online").raise_for_status()


def test_the_finetune_form_yaml_is_what_the_cli_loads_and_the_api_takes(
        studio: Watched, studio_server: ServerProc, chat_data: str, tmp_path: Path) -> None:
    from ember.specs.finetuning import load_finetuning_spec
    page = studio.page
    studio.open(f"/ws/default/catalog/{MODEL}/finetune")
    page.get_by_role("button", name="Submit fine-tuning job").click()
    expect(page.locator("#form-error")).to_have_text("Choose the training data.")
    # keyboard only: choose the training data and change the epochs
    page.focus("#training-data")
    page.keyboard.press("ArrowDown")
    page.focus("#hp-epochs")
    page.keyboard.press("Control+A")
    page.keyboard.type("2")
    text = page.locator('pre[data-file="finetune.yml"]').inner_text()
    assert "training_data:" in text
    job = load_finetuning_spec(_yaml_file(studio, "finetune.yml", tmp_path))
    assert job.task == "chat_completion"
    assert job.model.path == f"azureml://registries/azureml/models/{MODEL}/versions/1"
    assert job.training_data.path == chat_data
    assert job.hyperparameters == {"num_train_epochs": "2", "learning_rate": "0.0002",
                                   "per_device_train_batch_size": "1"}
    assert job.outputs["registered_model"].name == "smollm2-135m-instruct-ft"
    assert_accessible(page)
    studio.screenshot("catalog-finetune-form")
    page.get_by_role("button", name="Submit fine-tuning job").click()
    link = page.locator("#job-link")
    expect(link).to_be_visible()
    name = link.get_attribute("data-job")
    with _api(studio_server) as api:
        made: dict[str, Any] = api.get(f"/jobs/{name}").json()
        assert made["type"] == "finetuning"
        api.post(f"/jobs/{name}/cancel").raise_for_status()


def test_a_reader_sees_no_deploy_buttons(browser: Any, studio_server: ServerProc) -> None:
    from tests.studio.conftest import open_context
    with _api(studio_server) as api:
        users = httpx.get(f"{studio_server.url}/api/v1/users", timeout=30,
                          headers={"Authorization": f"Bearer {studio_server.token}"}).json()
        if not any(u.get("name") == "cat-reader" for u in users):
            httpx.post(f"{studio_server.url}/api/v1/users", timeout=30, json={
                "name": "cat-reader", "password": "reader password 1"},
                headers={"Authorization": f"Bearer {studio_server.token}"}).raise_for_status()
            api.post("/roles", json={"user": "cat-reader", "role": "Reader"}).raise_for_status()
        token = httpx.post(f"{studio_server.url}/api/v1/tokens", timeout=30, json={
            "name": "t"}, auth=("cat-reader", "reader password 1")).json()["token"]
    context = open_context(browser, studio_server, token=token)
    page = context.new_page()
    page.goto(f"{studio_server.url}/ws/default/catalog")
    expect(page.locator(f'.model-card[data-model="{MODEL}"]')).to_be_visible()
    assert page.get_by_role("link", name=f"Deploy {MODEL}").count() == 0
    context.close()
