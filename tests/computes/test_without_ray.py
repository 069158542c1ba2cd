"""A server whose Python has no Ray: a subprocess blocks ``ray`` (``sys.modules["ray"] = None``,
so ``import ray`` fails there) before importing Ember, builds the real app in process
(Starlette's TestClient, as the ``app_transport`` fixture does) and reports, as one JSON object
on its last line, what the SDK got: creating a ``type: ray`` compute is refused, and a job, a
pipeline and a sweep naming a Ray compute seeded through the store are refused at submit, each
with one line naming ``pip install 'ember-ml[ray]'``; a job naming an unknown compute is still
accepted (it would run locally)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HINT = "pip install 'ember-ml[ray]'"

SCRIPT = r'''
import sys
sys.modules["ray"] = None   # before Ember is imported: `import ray` fails from here on
try:
    import ray  # noqa: F401
    ray_importable = True
except ImportError:
    ray_importable = False

import json
import time
from pathlib import Path

from fastapi.testclient import TestClient

from ember import MLClient, command, load_job
from ember.client.compute import Compute
from ember.entities.computes import Compute as ComputeEntity
from ember.errors import EmberError
from ember.server.app import create_app
from ember.settings import Settings
from ember.specs.sweeps import load_sweep_spec
from tests.conftest import APP_URL, AppTransport

tmp = Path(sys.argv[1])
out = {"ray_importable": ray_importable}


def attempt(key, submit):
    try:
        made = submit()
    except EmberError as exc:
        out[key] = {"refused": type(exc).__name__, "message": str(exc)}
    else:
        out[key] = {"accepted": made.status if hasattr(made, "status") else made.name}


app = create_app(Settings(home=tmp / "home", port=0), start_scheduler=False)
with TestClient(app) as tc, MLClient(endpoint=APP_URL, workspace="default",
                                     transport=AppTransport(tc)) as client:
    attempt("create", lambda: client.compute.begin_create_or_update(
        Compute(name="lab", type="ray", address="http://127.0.0.1:8265")).result())
    out["computes_after_create"] = [c.name for c in client.compute.list()]
    tc.app.state.platform.store.computes.create_or_update("default", ComputeEntity(
        name="ray1", type="ray", address="http://127.0.0.1:8265", creation_time=time.time()))
    out["computes_seeded"] = [(c.name, c.type) for c in client.compute.list()]
    for ref in ("azureml:ray1", "ray1", "azureml:elsewhere"):
        attempt(f"job {ref}", lambda: client.jobs.create_or_update(
            command(command="echo hi", compute=ref)))
    pipeline = tmp / "pipeline.yml"
    pipeline.write_text("type: pipeline\njobs:\n  a:\n    type: command\n"
                        "    command: echo hi\n    compute: azureml:ray1\n")
    attempt("pipeline", lambda: client.jobs.create_or_update(load_job(pipeline)))
    sweep = tmp / "sweep.yml"
    sweep.write_text("type: sweep\ntrial:\n  command: echo ${{search_space.x}}\n"
                     "search_space:\n  x: {type: choice, values: [1, 2]}\n"
                     "sampling_algorithm: random\nobjective: {primary_metric: m, goal: maximize}\n"
                     "limits: {max_total_trials: 2}\ncompute: azureml:ray1\n")
    attempt("sweep", lambda: client.jobs.create_or_update(load_sweep_spec(sweep)))
    out["jobs"] = sorted(j.compute for j in client.jobs.list())
out["ray_still_blocked"] = "ray" in sys.modules and sys.modules["ray"] is None
print(json.dumps(out))
'''


def test_without_ray_ray_computes_and_jobs_on_them_are_refused_naming_the_extra(
        tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH"))
                                         if p)}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path)], check=False,
                          capture_output=True, text=True, cwd=REPO, env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["ray_importable"] is False and got["ray_still_blocked"] is True

    def refused(key: str, *words: str) -> None:
        answer = got[key]
        assert answer.get("refused") == "UnsupportedError", (key, answer)
        message = answer["message"]
        assert HINT in message and "\n" not in message, (key, message)
        assert "Ray is not installed on the Ember server" in message, (key, message)
        for word in words:
            assert word in message, (key, message)

    refused("create", "'lab'")
    assert got["computes_after_create"] == ["local"]
    assert got["computes_seeded"] == [["local", "local"], ["ray1", "ray"]]
    refused("job azureml:ray1", "'ray1'")
    refused("job ray1", "'ray1'")
    refused("pipeline", "step 'a'", "'ray1'")
    refused("sweep", "'ray1'")
    assert got["job azureml:elsewhere"] == {"accepted": "Queued"}
    assert got["jobs"] == ["azureml:elsewhere"]   # nothing refused was recorded
