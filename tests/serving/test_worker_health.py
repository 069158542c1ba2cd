"""Worker health end to end: a run() that never returns, a worker past its memory limit, and the
checks on the memory-limit setting. Real server, router and worker processes, real HTTP."""

from __future__ import annotations

import concurrent.futures
import json
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.online_endpoints import ProbeSettings, RequestSettings
from ember.errors import SpecError
from ember.specs.online_endpoints import load_online_deployment_spec
from tests.conftest import ServerProc, wait_for
from tests.serving.conftest import scoring_project
from tests.serving.test_online_endpoints import score, serve_script

FAST_LIVENESS = ProbeSettings(initial_delay=0, period=1, timeout=1, failure_threshold=2)


def test_a_hung_run_does_not_poison_the_deployment(server: ServerProc, tmp_path: Path) -> None:
    """One request whose run() never returns: it gets its 504, every later request is answered
    by the other instance, and the hung worker fails its liveness probe and is replaced (the
    event is in the deployment's logs)."""
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        ep, key = serve_script(c, root, "stuck", instance_count=2,
                               liveness_probe=FAST_LIVENESS,
                               request_settings=RequestSettings(request_timeout_ms=3000))
        before = {i["pid"] for i in c.online_deployments.instances("blue", "stuck")}
        assert len(before) == 2
        hung = score(ep.scoring_uri, key, {"hang": True})
        assert hung.status_code == 504 and hung.json()["error_code"] == "REQUEST_TIMEOUT"

        answered: set[int] = set()
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=30) as h:
            for i in range(10):   # none of them may go to the worker stuck in run()
                r = h.post(ep.scoring_uri, json={"data": [i]})
                assert r.status_code == 200, r.text
                answered.add(r.json()["pid"])
            good = answered & before   # (a replacement may already answer too)
            assert len(good) == 1
            stuck_pid = (before - good).pop()

            def replaced() -> bool:
                now = c.online_deployments.instances("blue", "stuck")
                pids = {i["pid"] for i in now if i["state"] == "ready"}
                return len(pids) == 2 and stuck_pid not in pids
            wait_for(replaced, timeout=60, interval=0.2)
            logs = c.online_deployments.get_logs("blue", "stuck", lines=200)
            assert "failed its liveness probe" in logs and "run() has not returned" in logs

            def both_answer() -> bool:
                # Ties go to the instance used last: a slow request in flight on one sends the
                # other request to the other instance.
                with concurrent.futures.ThreadPoolExecutor(1) as pool:
                    slow = pool.submit(h.post, ep.scoring_uri, json={"sleep": 0.5, "data": [0]})
                    answered.add(h.post(ep.scoring_uri, json={"data": [1]}).json()["pid"])
                    answered.add(slow.result().json()["pid"])
                return len(answered - before) >= 1
            wait_for(both_answer, timeout=30, interval=0.0)


def test_a_worker_past_its_memory_limit_is_restarted(server: ServerProc, tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    with MLClient(endpoint=server.url) as c:
        ep, key = serve_script(c, root, "leak", worker_memory_limit_mb=120)
        assert c.online_deployments.get("blue", "leak").worker_memory_limit_mb == 120
        pid = score(ep.scoring_uri, key, {"data": [1]}).json()["pid"]
        grown = score(ep.scoring_uri, key, {"grow_mb": 200})
        assert grown.status_code == 200 and grown.json()["pid"] == pid

        def restarted() -> bool:
            now = c.online_deployments.instances("blue", "leak")
            return bool(now) and now[0]["pid"] != pid and now[0]["state"] == "ready"
        wait_for(restarted, timeout=60, interval=0.2)
        assert c.online_deployments.instances("blue", "leak")[0]["restarts"] >= 1
        logs = c.online_deployments.get_logs("blue", "leak", lines=200)
        assert "worker_memory_limit_mb 120" in logs and "restarting it" in logs
        again = score(ep.scoring_uri, key, {"data": [2]})
        assert again.status_code == 200 and again.json()["pid"] != pid


@pytest.mark.parametrize("value", ["-5", "0", "1.5", "lots"])
def test_a_bad_memory_limit_in_yaml_names_the_key(tmp_path: Path, value: str) -> None:
    root = scoring_project(tmp_path)
    spec = root / "blue.yml"
    spec.write_text("name: blue\nendpoint_name: e\nmodel: azureml:scaler:1\n"
                    "code_configuration: {code: ./src, scoring_script: score.py}\n"
                    f"worker_memory_limit_mb: {value}\n")
    with pytest.raises(SpecError, match="worker_memory_limit_mb") as err:
        load_online_deployment_spec(spec)
    assert "integer >= 1" in str(err.value)
    spec.write_text(spec.read_text().replace(f": {value}\n", ": 512\n"))
    assert load_online_deployment_spec(spec).worker_memory_limit_mb == 512


def test_a_bad_memory_limit_over_rest_is_a_400_naming_the_key(server: ServerProc) -> None:
    with MLClient(endpoint=server.url) as c:
        from ember.entities.online_endpoints import OnlineEndpoint
        c.online_endpoints.create_or_update(OnlineEndpoint(name="e"))
    url = f"{server.api()}/online-endpoints/e/deployments/blue"
    for value in (-5, 0, 1.5, "lots", True):
        r = httpx.put(url, json={"model": "azureml:scaler:1", "worker_memory_limit_mb": value},
                      headers=server.headers, timeout=30)
        assert r.status_code == 400, (value, r.text)
        assert "worker_memory_limit_mb" in r.json()["message"], (value, r.text)
    assert json.loads(httpx.get(f"{server.api()}/online-endpoints/e/deployments",
                                headers=server.headers, timeout=30).text) == []
