"""azure-ai-ml notebook habits on MLClient (issue 10, item 7): ``from ember.dsl import
pipeline``, ``ml_client.create_or_update(entity)`` / ``begin_create_or_update(entity)``,
``job.studio_url`` and ``ml_client.compute``."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ember import (
    BatchEndpoint,
    CodeConfiguration,
    Input,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    MLClient,
    Model,
    ModelBatchDeployment,
    command,
    load_component,
)
from ember.client.online_endpoints import Poller
from ember.entities.components import Component
from ember.entities.data import DataAsset
from ember.entities.environments import Environment
from ember.entities.jobs import Job, JobStatus
from ember.errors import NotFoundError
from ember.sweep import Choice
from tests.conftest import APP_URL, AppTransport, ServerProc
from tests.serving.conftest import scoring_project


def test_ember_dsl_is_a_module_like_azure_ai_ml_dsl(project: Path) -> None:
    import ember
    import ember.client.dsl
    import ember.dsl
    from ember.dsl import load_component, pipeline

    assert pipeline is ember.client.dsl.pipeline            # the old import still works
    assert load_component is ember.load_component
    from ember import dsl

    assert dsl is ember.dsl
    train = load_component(project / "components" / "train.yml")

    @pipeline(default_compute="local")
    def one_step(data):  # type: ignore[no-untyped-def]
        return {"model": train(data=data).outputs.model}

    job = one_step(data=Input(type="uri_folder", path=str(project / "data")))
    assert list(job.jobs) == ["train"] and set(job.outputs) == {"model"}


BATCH_SCORE = "def init():\n    pass\n\ndef run(mini_batch):\n    return list(mini_batch)\n"


def test_create_or_update_dispatches_on_the_entity_type(app_client: MLClient, tmp_path: Path,
                                                        project: Path) -> None:
    (tmp_path / "data.csv").write_text("a\n1\n")
    (tmp_path / "model").mkdir()
    (tmp_path / "model/weights.txt").write_text("1")
    (tmp_path / "src").mkdir()
    (tmp_path / "src/batch_score.py").write_text(BATCH_SCORE)
    with app_client as c:
        env = c.create_or_update(Environment(name="py311", image="python:3.11-slim"))
        assert isinstance(env, Environment) and c.environments.get("py311", "1").name == "py311"
        data = c.create_or_update(DataAsset(name="rows", version="", path=str(tmp_path /
                                                                                "data.csv"),
                                            type="uri_file"))
        assert isinstance(data, DataAsset) and data.path.startswith("azureml://")
        model = c.create_or_update(Model(name="weights", path=str(tmp_path / "model")))
        assert isinstance(model, Model) and model.version == 1
        comp = c.create_or_update(Component(name="echo_it", command="echo hi",
                                            environment="azureml:py311:1"))
        assert isinstance(comp, Component) and comp.version == "1"
        loaded = c.create_or_update(load_component(project / "components" / "train.yml"))
        assert isinstance(loaded, Component) and loaded.code and loaded.code.startswith("codes/")

        job = c.create_or_update(command(command="echo hi", environment="azureml:py311:1",
                                         experiment_name="shortcuts"))
        assert isinstance(job, Job) and job.status == JobStatus.QUEUED
        assert c.jobs.get(job.name).experiment_name == "shortcuts"
        trial = command(command="echo ${{inputs.x}}", inputs={"x": Choice([1, 2])})
        sweep = c.create_or_update(trial.sweep(primary_metric="m", goal="maximize",
                                               max_total_trials=2))
        assert sweep.type == "sweep"

        poller = c.begin_create_or_update(ManagedOnlineEndpoint(name="ep", description="d"))
        assert isinstance(poller, Poller) and poller.result().name == "ep"
        assert c.online_endpoints.get("ep").description == "d"
        # The synchronous form of the long-running ones waits for the result itself.
        assert c.create_or_update(ManagedOnlineEndpoint(name="ep", description="e")
                                  ).description == "e"

        batch = c.begin_create_or_update(BatchEndpoint(name="scorer")).result()
        assert isinstance(batch, BatchEndpoint) and batch.name == "scorer"
        dep = c.begin_create_or_update(ModelBatchDeployment(
            name="d1", endpoint_name="scorer", model="azureml:weights:1",
            code_configuration=CodeConfiguration(str(tmp_path / "src"), "batch_score.py")
        )).result()
        assert dep.name == "d1" and c.batch_deployments.get("d1", "scorer").name == "d1"
        # A synchronous kind through begin_: a poller that is already done.
        assert c.begin_create_or_update(Model(name="weights", path=str(tmp_path / "model"))
                                        ).result().version == 2


def test_create_or_update_of_an_unknown_type_is_a_type_error(app_client: MLClient) -> None:
    class Workspace:
        pass

    with app_client as c:
        with pytest.raises(TypeError, match="Workspace"):
            c.create_or_update(Workspace())
        with pytest.raises(TypeError, match="'int'"):
            c.begin_create_or_update(42)


def test_online_deployment_through_begin_create_or_update(server: ServerProc,
                                                          tmp_path: Path) -> None:
    root = scoring_project(tmp_path, scale=3.0)
    with MLClient(endpoint=server.url) as c:
        c.create_or_update(Model(name="scaler", path=str(root / "model")))
        c.begin_create_or_update(ManagedOnlineEndpoint(name="shortcut")).result()
        poller = c.begin_create_or_update(ManagedOnlineDeployment(
            name="blue", endpoint_name="shortcut", model="azureml:scaler:1",
            code_configuration=CodeConfiguration(str(root / "src"), "score.py")))
        assert isinstance(poller, Poller)
        assert poller.result(timeout=180).provisioning_state == "Succeeded"
        assert '"result": [3.0' in c.online_endpoints.invoke(
            "shortcut", deployment_name="blue", body='{"data": [1]}')


def test_jobs_carry_their_url_on_the_server(app_client: MLClient,
                                            app_transport: AppTransport) -> None:
    assert command(command="echo").studio_url is None   # not submitted yet
    with app_client as c:
        job = c.jobs.create_or_update(command(command="echo hi"))
        url = f"{APP_URL}/ws/default/jobs/{job.name}"
        assert job.studio_url == url
        assert c.jobs.get(job.name).studio_url == url
        assert [j.studio_url for j in c.jobs.list()] == [url]
        assert c.jobs.begin_cancel(job.name).studio_url == url
        # The URL is the job's page in the studio (with a token, as with a session).
        with httpx.Client(transport=app_transport) as http:
            page = http.get(url)
            assert page.status_code == 200 and job.name in page.text
            assert page.headers["content-type"].startswith("text/html")


def test_compute_lists_the_one_local_compute(app_client: MLClient) -> None:
    with app_client as c:
        [local] = c.compute.list()
        assert (local.name, local.type) == ("local", "local")
        got = c.compute.get("local")
        assert (got.name, got.type) == ("local", "local")
        with pytest.raises(NotFoundError, match="'gpu-cluster'"):
            c.compute.get("gpu-cluster")

