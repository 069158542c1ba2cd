"""The endpoint pages: the list, an online endpoint's tabs (traffic edited from the page,
live metrics, logs, a test request, consume with keys on click), what a Reader sees and what
the API refuses them, and a batch endpoint with its jobs. Data: examples/endpoints (an
MLflow-style model behind blue and green deployments), deployed once for the module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from ember.client.mlclient import MLClient
from ember.specs.batch_endpoints import (
    load_batch_deployment_spec,
    load_batch_endpoint_spec,
)
from ember.specs.online_endpoints import (
    load_online_deployment_spec,
    load_online_endpoint_spec,
)
from tests.conftest import ServerProc, wait_for
from tests.serving.test_serverless_endpoints import SMOL, needs_llm
from tests.studio.conftest import REPO, Watched, assert_accessible, open_context

EX = REPO / "examples/endpoints"
EP = "studio-scaler"       # names of this module's own: the studio server is shared
BATCH = "studio-scaler-batch"
READER = "endpoint-reader"


def headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def deployed(studio_server: ServerProc) -> dict[str, Any]:
    """examples/endpoints: the online endpoint with blue (all traffic) and green, the batch
    endpoint with one job; and a Reader's token."""
    with MLClient(endpoint=studio_server.url, token=studio_server.token) as c:
        c.online_endpoints.create_or_update(
            load_online_endpoint_spec(EX / "endpoint.yml", [f"name={EP}"]))
        pollers = [c.online_deployments.begin_create_or_update(
            load_online_deployment_spec(EX / f"{color}.yml", [f"endpoint_name={EP}"]),
            all_traffic=color == "blue") for color in ("blue", "green")]
        for poller in pollers:
            assert poller.result(timeout=180).provisioning_state == "Succeeded"
        c.batch_endpoints.create_or_update(
            load_batch_endpoint_spec(EX / "batch-endpoint.yml", [f"name={BATCH}"]))
        c.batch_deployments.create_or_update(load_batch_deployment_spec(
            EX / "batch-deployment.yml", [f"endpoint_name={BATCH}"]), set_default=True)
        job = c.batch_endpoints.invoke(BATCH, input=EX / "batch-inputs")
    owner = headers(studio_server.token)
    httpx.post(f"{studio_server.url}/api/v1/users", headers=owner, timeout=30,
               json={"name": READER, "password": "reader password 1"}).raise_for_status()
    httpx.post(f"{studio_server.api()}/roles", headers=owner, timeout=30,
               json={"user": READER, "role": "Reader"}).raise_for_status()
    made = httpx.post(f"{studio_server.url}/api/v1/tokens", timeout=30,
                      auth=(READER, "reader password 1"), json={"name": "studio test"})
    made.raise_for_status()
    return {"batch_job": job.name, "reader_token": made.json()["token"]}


@pytest.fixture
def reader(browser: Any, studio_server: ServerProc, deployed: dict[str, Any]) -> Iterator[Watched]:
    context = open_context(browser, studio_server, token=deployed["reader_token"])
    watched = Watched(context.new_page(), studio_server.url)
    yield watched
    context.close()
    assert not watched.errors, "\n".join(watched.errors)


def endpoint(server: ServerProc) -> dict[str, Any]:
    found = httpx.get(f"{server.api()}/online-endpoints/{EP}", headers=headers(server.token),
                      timeout=30)
    found.raise_for_status()
    return dict(found.json())


def test_the_list_and_the_details_change_traffic_keyboard_only(
        studio: Watched, studio_server: ServerProc, deployed: dict[str, Any]) -> None:
    page = studio.page
    studio.open("/ws/default/endpoints")
    assert_accessible(page)
    expect(page.get_by_role("link", name=BATCH)).to_be_visible()
    studio.screenshot("endpoints-list")
    page.get_by_role("link", name=EP, exact=True).click()
    page.wait_for_url(f"**/ws/default/endpoints/{EP}")
    expect(page.get_by_role("row", name="blue")).to_contain_text("Succeeded")
    assert_accessible(page)
    studio.screenshot("endpoints-details")

    blue = page.get_by_label("Traffic % for blue")
    # a total that is not 100 is refused in the page, and nothing is sent
    blue.focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("50")
    page.keyboard.press("Enter")
    expect(page.locator("#traffic-error")).to_have_text(
        "Live traffic adds up to 50%; it must add up to 100%.")
    assert endpoint(studio_server)["traffic"] == {"blue": 100}
    # keyboard only: blue 70, Tab to blue's mirror, Tab to green's traffic, 30, Enter
    page.keyboard.press("Control+A")
    page.keyboard.type("70")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("30")
    expect(page.locator("#traffic-total")).to_have_text("100%")
    page.keyboard.press("Enter")
    expect(page.locator("#notice")).to_have_text("Traffic saved: blue 70%, green 30%.")
    assert endpoint(studio_server)["traffic"] == {"blue": 70, "green": 30}
    # the API's own refusal is shown: mirroring to a deployment that has live traffic
    page.get_by_label("Mirror % for green").fill("10")
    page.get_by_role("button", name="Save traffic").click()
    expect(page.locator("#traffic-error")).to_contain_text("cannot receive both live and mirrored")
    studio.errors.clear()   # the browser logs the refused PATCH (400)
    assert endpoint(studio_server)["mirror_traffic"] == {}


def test_a_test_request_shows_the_prediction(studio: Watched, deployed: dict[str, Any]) -> None:
    page = studio.page
    studio.open(f"/ws/default/endpoints/{EP}/test")
    assert_accessible(page)
    page.get_by_label("Deployment").select_option("green")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#test-status")).to_contain_text("200 OK from deployment green")
    expect(page.locator("#test-response")).to_contain_text('"predictions": [')
    assert '"deployment": "green"' in page.inner_text("#test-response")
    studio.screenshot("endpoints-test")
    page.get_by_label("Request body (JSON)").fill("{not json")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#test-status")).to_contain_text("not JSON")


def test_metrics_chart_the_requests(studio: Watched, studio_server: ServerProc,
                                    deployed: dict[str, Any]) -> None:
    page = studio.page
    studio.open(f"/ws/default/endpoints/{EP}/metrics")
    assert_accessible(page)
    score = f"{studio_server.api()}/online-endpoints/{EP}/score"
    for _ in range(3):
        answer = httpx.post(score, headers=headers(studio_server.token), timeout=60,
                            json={"data": [1, 2]})
        assert answer.status_code == 200, answer.text
    # charts have points once two readings are in (the rate is their difference)
    page.wait_for_function("""() => ['chart-requests', 'chart-latency'].every(id => {
        const d = document.getElementById(id).data;
        return d && d.some(t => t.x.length > 1);
    })""", timeout=20_000)
    expect(page.locator("#metrics-table tbody")).to_contain_text("blue")
    studio.screenshot("endpoints-metrics")


def test_logs_of_a_deployment(studio: Watched, deployed: dict[str, Any]) -> None:
    page = studio.page
    studio.open(f"/ws/default/endpoints/{EP}/logs?deployment=green&lines=500")
    assert_accessible(page)
    expect(page.get_by_label("Deployment")).to_have_value("green")
    assert page.inner_text("pre.log").strip()
    with page.expect_response(lambda r: "/deployments/green/logs?lines=500" in r.url) as read:
        page.get_by_label("Follow").check()
    assert read.value.ok
    studio.screenshot("endpoints-logs")


def test_consume_reveals_the_keys_on_click(studio: Watched, studio_server: ServerProc,
                                           deployed: dict[str, Any]) -> None:
    page = studio.page
    keys_seen: list[str] = []
    page.on("request", lambda r: keys_seen.append(r.url) if r.url.endswith("/keys") else None)
    studio.open(f"/ws/default/endpoints/{EP}/consume")
    assert_accessible(page)
    assert not keys_seen   # nothing asked for the keys before the click
    uri = endpoint(studio_server)["scoring_uri"]
    expect(page.locator("#consume-uri")).to_have_text(uri)
    assert uri in page.inner_text("#snippet-curl") and uri in page.inner_text("#snippet-python")
    page.get_by_role("button", name="Show keys").click()
    keys = httpx.get(f"{studio_server.api()}/online-endpoints/{EP}/keys",
                     headers=headers(studio_server.token), timeout=30).json()
    expect(page.locator("#key-primary")).to_have_text(keys["primary_key"])
    assert len(keys_seen) == 1
    assert_accessible(page)
    studio.screenshot("endpoints-consume")


def test_a_reader_sees_no_edits_or_keys_and_the_api_refuses_them(
        reader: Watched, studio_server: ServerProc, deployed: dict[str, Any]) -> None:
    page = reader.page
    reader.open(f"/ws/default/endpoints/{EP}")
    expect(page.get_by_role("row", name="blue")).to_be_visible()
    assert page.locator("input:not([type=hidden])").count() == 0
    assert page.get_by_role("button", name="Save traffic").count() == 0
    assert_accessible(page)
    reader.open(f"/ws/default/endpoints/{EP}/consume")
    assert page.get_by_role("button", name="Show keys").count() == 0
    reader.open(f"/ws/default/endpoints/{EP}/test")
    assert page.get_by_role("button", name="Send request").count() == 0
    token = headers(deployed["reader_token"])
    base = f"{studio_server.api()}/online-endpoints/{EP}"
    before = endpoint(studio_server)["traffic"]
    assert httpx.patch(base, headers=token, json={"traffic": {"green": 100, "blue": 0}},
                       timeout=30).status_code == 403
    assert httpx.get(f"{base}/keys", headers=token, timeout=30).status_code == 403
    assert httpx.post(f"{base}/score", headers=token, json={"data": [1]},
                      timeout=30).status_code == 403
    assert endpoint(studio_server)["traffic"] == before


def test_a_batch_endpoint_with_its_jobs(studio: Watched, deployed: dict[str, Any]) -> None:
    page = studio.page
    studio.open(f"/ws/default/batch-endpoints/{BATCH}")
    assert_accessible(page)
    expect(page.get_by_role("rowheader", name="files default")).to_be_visible()
    link = page.get_by_role("link", name=deployed["batch_job"])
    assert link.get_attribute("href") == f"/ws/default/jobs/{deployed['batch_job']}"
    studio.screenshot("endpoints-batch")


# --- a language model: SmolLM2-135M-Instruct on llama.cpp (one thread), behind a serverless
# endpoint in a workspace of its own (a workspace holds one serverless endpoint per model) ---

LLM_WS = "studio-llm"
SMOL_EP = "studio-smol"


@pytest.fixture(scope="module")
def smol(studio_server: ServerProc) -> str:
    owner = headers(studio_server.token)
    httpx.post(f"{studio_server.url}/api/v1/workspaces", headers=owner, timeout=30,
               json={"name": LLM_WS}).raise_for_status()
    url = f"{studio_server.api(LLM_WS)}/serverless-endpoints/{SMOL_EP}"
    httpx.put(url, headers=owner, json={"model_id": SMOL}, timeout=60).raise_for_status()
    state = wait_for(lambda: (httpx.get(url, headers=owner, timeout=30).json()
                              ["provisioning_state"] not in ("Creating", "Updating")
                              ) or None, timeout=120, interval=0.5)
    assert state
    shown = httpx.get(url, headers=owner, timeout=30).json()
    assert shown["provisioning_state"] == "Succeeded", shown
    return SMOL_EP


@needs_llm
def test_the_playground_streams_a_reply_and_usage_is_charted(
        studio: Watched, studio_server: ServerProc, smol: str) -> None:
    page = studio.page
    studio.open(f"/ws/{LLM_WS}/endpoints")
    page.get_by_role("link", name=smol).click()
    page.wait_for_url(f"**/ws/{LLM_WS}/serverless-endpoints/{smol}")
    page.get_by_role("link", name="Playground").click()
    assert_accessible(page)
    page.get_by_label("Max tokens").fill("12")
    page.get_by_label("Temperature").fill("0")
    # keyboard only: type the message, Ctrl+Enter sends
    page.get_by_label("Message", exact=True).focus()
    page.keyboard.type("Name a colour.")
    page.keyboard.press("Control+Enter")
    answer = page.locator(".msg.assistant")
    expect(answer).to_have_attribute("data-done", "true", timeout=60_000)
    assert int(answer.get_attribute("data-chunks") or 0) > 1   # it came in pieces
    assert answer.locator(".text").inner_text().strip()
    expect(page.locator("#chat-status")).to_contain_text("completion tokens")
    studio.screenshot("endpoints-playground")

    studio.open(f"/ws/{LLM_WS}/serverless-endpoints/{smol}")
    assert_accessible(page)
    row = page.get_by_role("row", name="primary")
    expect(row).to_be_visible()
    assert int(row.locator("td").nth(2).inner_text()) > 0   # completion tokens metered
    page.wait_for_function("""() => {
        const bars = document.getElementById('chart-tokens').data;
        const minutes = document.getElementById('chart-token-rate').data;
        return bars && bars[1].y[0] > 0 && minutes && minutes[1].y.some(n => n > 0);
    }""", timeout=20_000)
    studio.screenshot("endpoints-usage")

    studio.open(f"/ws/{LLM_WS}/serverless-endpoints/{smol}/consume")
    page.get_by_role("button", name="Show keys").click()
    keys = httpx.post(f"{studio_server.api(LLM_WS)}/serverless-endpoints/{smol}/listKeys",
                      headers=headers(studio_server.token), timeout=30).json()
    expect(page.locator("#key-secondary")).to_have_text(keys["secondary_key"])
    assert_accessible(page)


@needs_llm
def test_an_online_language_model_deployment_has_a_playground_and_usage(
        studio: Watched, studio_server: ServerProc, smol: str) -> None:
    from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint

    with MLClient(endpoint=studio_server.url, token=studio_server.token,
                  workspace=LLM_WS) as c:
        c.online_endpoints.create_or_update(OnlineEndpoint(name="studio-lm"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="studio-lm", model=SMOL,
                             environment_variables={"EMBER_LLM_THREADS": "1"}),
            all_traffic=True).result(timeout=180)
        assert d.provisioning_state == "Succeeded"
    page = studio.page
    studio.open(f"/ws/{LLM_WS}/endpoints/studio-lm")
    page.get_by_role("link", name="Playground").click()
    page.wait_for_url(f"**/ws/{LLM_WS}/endpoints/studio-lm/playground")
    assert_accessible(page)
    page.get_by_label("Max tokens").fill("8")
    page.get_by_label("Message", exact=True).fill("Say hello.")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".msg.assistant")
    expect(answer).to_have_attribute("data-done", "true", timeout=60_000)
    assert int(answer.get_attribute("data-chunks") or 0) > 1
    studio.screenshot("endpoints-online-playground")
    studio.open(f"/ws/{LLM_WS}/endpoints/studio-lm/test")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#test-status")).to_contain_text("200 OK from deployment blue")
    studio.open(f"/ws/{LLM_WS}/endpoints/studio-lm/metrics")
    expect(page.get_by_role("row", name="primary")).to_be_visible()
    assert_accessible(page)
    studio.open(f"/ws/{LLM_WS}/endpoints/studio-lm/consume")
    assert "/v1" in page.inner_text("#chat-python")
