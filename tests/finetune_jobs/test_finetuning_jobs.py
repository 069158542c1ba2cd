"""Fine-tuning jobs run for real on a server: a tiny Llama trained for a few LoRA steps by
``python -m ember.finetune.train`` in the job's process, its adapter registered before the job
is Completed, a re-run resuming from the checkpoints, failures and cancels ending the job."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import mlflow
import pytest

from ember import load_job
from ember.client.mlclient import MLClient
from ember.entities.jobs import JobStatus
from ember.entities.models import Model
from ember.errors import NotFoundError
from ember.finetuning import create_finetuning_job
from tests.conftest import ServerProc, WorkspaceServer, job_log, wait_ended, wait_for
from tests.finetune_jobs.conftest import chat_line, write_jsonl
from tests.test_cli import ember

HYPERPARAMETERS = {"max_steps": "4", "per_device_train_batch_size": "2",
                   "learning_rate": "0.001", "logging_steps": "1", "save_steps": "2",
                   "evaluation_strategy": "steps", "eval_steps": "2",
                   "merge_lora_weights": "true"}


@pytest.fixture
def client(server: WorkspaceServer, tiny_llama: Path) -> MLClient:
    c = MLClient()
    c.models.create_or_update(Model(name="tiny-llama", path=str(tiny_llama),
                                    type="custom_model"))
    return c


def training_log(client: MLClient, job: str) -> str:
    """The log of ``job``'s training ("" until the orchestrator has recorded the training)."""
    try:
        return job_log(client, f"{job}-train")
    except NotFoundError:
        return ""


def spec(folder: Path, train: Path, val: Path, **extra: str) -> Path:
    path = folder / "ft.yml"
    path.write_text(textwrap.dedent(f"""\
        type: finetuning
        experiment_name: tiny-ft
        task: chat_completion
        model_provider: custom
        model: {{path: "azureml:tiny-llama:1", type: custom_model}}
        training_data: {train}
        validation_data: {{type: uri_file, path: {val}}}
        hyperparameters: {json.dumps(HYPERPARAMETERS | extra)}
        outputs: {{registered_model: {{name: tiny-chat, type: mlflow_model}}}}
        """))
    return path


def test_train_register_and_resume(server: WorkspaceServer, client: MLClient,
                                   chats: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = chats
    path = spec(tmp_path, train, val)
    run = ember(server.proc, "job", "create", "-f", str(path), "--stream")
    assert run.returncode == 0, run.stderr + run.stdout
    name = run.stdout.split("RunId: ")[1].split()[0]
    assert "training: 4 steps" in run.stdout and "saved checkpoint-4" in run.stdout
    assert "Status: Completed" in run.stdout
    assert "Registered model: azureml:tiny-chat:1" in run.stdout
    job = client.jobs.get(name)
    assert job.type == "finetuning" and job.status == JobStatus.COMPLETED
    assert job.properties["finetuning.registered_model"] == "azureml:tiny-chat:1"
    assert job.properties["finetuning.merged_model"] == "azureml:tiny-chat-merged:1"
    reasons = [s.reason for s in job.status_history if s.status == JobStatus.COMPLETED]
    assert reasons == ["registered azureml:tiny-chat:1, azureml:tiny-chat-merged:1"]
    # the training ran as the job's child on the server's Python; metrics are on the job's run
    (child,) = client.jobs.list(parent_job_name=name)
    assert (child.name, child.status, child.environment) == \
        (f"{name}-train", JobStatus.COMPLETED, None)
    tracking = mlflow.MlflowClient(tracking_uri=server.tracking_uri)
    losses = tracking.get_metric_history(name, "loss")
    assert [m.step for m in losses] == [1, 2, 3, 4]
    assert [m.step for m in tracking.get_metric_history(name, "eval_loss")] == [2, 4]
    assert tracking.get_run(name).info.status == "FINISHED"

    adapter = client.models.get("tiny-chat", "1")
    assert adapter.type == "custom_model" and adapter.run_id == name
    assert adapter.tags["base_model"] == "azureml:tiny-llama:1"
    assert adapter.tags["finetuning_job"] == name
    assert adapter.tags["task"] == "chat-completion"
    assert adapter.tags["training_data"].endswith("/train.jsonl")
    assert adapter.tags["validation_data"].endswith("/val.jsonl")
    assert adapter.properties["finetuning.steps"] == "4"
    assert "finetuning.resumed_from" not in adapter.properties
    downloaded = client.models.download("tiny-chat", "1", tmp_path / "got")
    assert {p.name for p in downloaded.rglob("*")} >= {"adapter_config.json",
                                                        "adapter_model.safetensors"}
    merged = client.models.get("tiny-chat-merged", "1")
    assert merged.tags["adapter"] == "azureml:tiny-chat:1" and merged.run_id == name
    # lineage: the adapter's files came from the job's output, the job from the data
    lineage = client.jobs.lineage(name)
    assert lineage["outputs"]["registered_model"]["produced_by"] == name
    assert lineage["inputs"]["training_data"]["path"] == adapter.tags["training_data"]
    assert client.jobs.producer_of(adapter.source)["job"] == name   # type: ignore[index]
    shown = json.loads(ember(server.proc, "model", "show", "-n", "tiny-chat", "-o",
                             "json").stdout)
    assert shown["tags"]["base_model"] == "azureml:tiny-llama:1"
    assert shown["tags"]["finetuning_job"] == name and shown["run_id"] == name
    job_shown = json.loads(ember(server.proc, "job", "show", "-n", name, "-o", "json").stdout)
    assert job_shown["type"] == "finetuning"
    assert job_shown["properties"]["finetuning.base_model"] == "azureml:tiny-llama:1"

    # the same spec again: same checkpoints, so it resumes (nothing left to train) and
    # registers the next version
    again = client.jobs.create_or_update(load_job(path))
    done = wait_ended(client, again.name)
    assert done.status == JobStatus.COMPLETED, done.error
    second = client.models.get("tiny-chat", "2")
    assert second.properties["finetuning.resumed_from"] == "checkpoint-4"
    assert second.tags["finetuning_job"] == again.name
    assert job.properties["finetuning.checkpoint_key"] == \
        done.properties["finetuning.checkpoint_key"]


def test_bad_data_fails_the_job_saying_which_line(server: WorkspaceServer, client: MLClient,
                                                  tmp_path: Path) -> None:
    train = write_jsonl(tmp_path / "train.jsonl",
                        [chat_line("q", "a"), '{"messages": [}', chat_line("q", "a")])
    val = write_jsonl(tmp_path / "val.jsonl", [chat_line("q", "a")])
    job = client.jobs.create_or_update(create_finetuning_job(
        model="azureml:tiny-llama:1", task="chat_completion", training_data=str(train),
        validation_data=str(val), output_model_name_prefix="never",
        hyperparameters=HYPERPARAMETERS))
    done = wait_ended(client, job.name)
    assert done.status == JobStatus.FAILED
    assert done.error is not None and done.error.startswith(
        "training failed: train.jsonl line 2: not valid JSON: ")
    assert done.error.endswith(f"(the log of job {job.name}-train has the details)")
    assert not any(m.name == "never" for m in client.models.list())


def test_cancel_then_the_same_spec_resumes_from_its_checkpoint(
        server: WorkspaceServer, client: MLClient, chats: tuple[Path, Path],
        tmp_path: Path) -> None:
    train, val = chats
    path = spec(tmp_path, train, val, max_steps="300", save_steps="5",
                evaluation_strategy="disable")
    job = client.jobs.create_or_update(load_job(path))
    child = f"{job.name}-train"
    wait_for(lambda: "saved checkpoint-5" in training_log(client, job.name), timeout=120)
    client.jobs.begin_cancel(job.name)
    done = wait_ended(client, job.name)
    assert done.status == JobStatus.CANCELED
    assert client.jobs.get(child).status == JobStatus.CANCELED
    assert not any(m.name == "tiny-chat" for m in client.models.list())

    again = client.jobs.create_or_update(load_job(path))
    log = wait_for(lambda: "resuming from checkpoint-" in (
        text := training_log(client, again.name)) and text, timeout=120)
    assert int(log.split("resuming from checkpoint-")[1].split()[0]) >= 5
    client.jobs.begin_cancel(again.name)
    assert wait_ended(client, again.name).status in (JobStatus.CANCELED, JobStatus.COMPLETED)


def test_a_server_killed_mid_training_finishes_the_job_when_back(
        ember_home: Path, tiny_llama: Path, chats: tuple[Path, Path], tmp_path: Path) -> None:
    train, val = chats
    srv = ServerProc(ember_home).start()
    try:
        with MLClient(endpoint=srv.url) as c:
            c.models.create_or_update(Model(name="tiny-llama", path=str(tiny_llama),
                                            type="custom_model"))
            job = c.jobs.create_or_update(load_job(spec(tmp_path, train, val,
                                                        max_steps="40")))
            wait_for(lambda: "training: 40 steps" in training_log(c, job.name), timeout=120)
        port = srv.port
        srv.kill()
        # Same port: the training's MLflow client keeps its tracking URI and retries.
        srv = ServerProc(ember_home).start(port=port)
        with MLClient(endpoint=srv.url) as c:
            done = wait_ended(c, job.name)
            assert done.status == JobStatus.COMPLETED, done.error
            assert done.properties["finetuning.registered_model"] == "azureml:tiny-chat:1"
            assert [m.version for m in c.models.list("tiny-chat")] == [1]
    finally:
        srv.stop()
