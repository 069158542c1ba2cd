"""Fixtures for the built-in fine-tuning and evaluation components: a tiny Llama registered as a
workspace model, a tiny chat data set, and pipeline YAML files written next to them.

The model (2 layers, hidden size 64, a byte-level BPE tokenizer with a ChatML chat template) is
built on the spot (tests/finetune/conftest.py), so nothing is downloaded; torch is pinned to one
thread in the jobs (EMBER_FINETUNE_THREADS, inherited by the module's server) so the steps that
run side by side on a 2-core machine do not fight over cores.
"""

from __future__ import annotations

import os
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import Job, JobStatus
from ember.entities.models import Model
from ember.specs.any_job import load_any_job_spec
from tests.conftest import ServerProc, wait_for
from tests.finetune.conftest import build_tiny_model, chat_line, secret_chat_rows, write_jsonl

os.environ["EMBER_FINETUNE_THREADS"] = "1"   # before the module's server starts: jobs inherit it
MODEL_NAME = "tiny-llama"

# The training settings every test uses: 4 steps of 2 examples, evaluated at steps 2 and 4.
TRAINING = """\
      max_steps: 4
      per_device_train_batch_size: 2
      learning_rate: 0.001
      logging_steps: 1
      evaluation_strategy: steps
      eval_steps: 2
"""
FINETUNE_PIPELINE = """\
$schema: https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json
type: pipeline
experiment_name: chat-finetune
inputs:
  base_model: {type: custom_model, path: azureml:tiny-llama:1}
  train_data: {type: uri_file, path: ./train.jsonl}
  compute_finetune: gpu-cluster-big
outputs:
  trained_model: {type: mlflow_model}
jobs:
  finetune:
    type: pipeline
    component: azureml://registries/azureml/components/chat_completion_pipeline/labels/latest
    inputs:
      pytorch_model_path: ${{parent.inputs.base_model}}
      compute_finetune: ${{parent.inputs.compute_finetune}}
      train_file_path: ${{parent.inputs.train_data}}
      number_of_gpu_to_use_finetuning: 8
      apply_deepspeed: "true"
%(training)s\
    outputs:
      mlflow_model_folder: ${{parent.outputs.trained_model}}
"""


@dataclass
class Workspace:
    """The module's workspace: its client, server and the folder holding the YAML and data."""

    server: ServerProc
    name: str
    client: MLClient
    root: Path

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def tracking_uri(self) -> str:
        return f"{self.server.url}/workspaces/{self.name}"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text))
        return path

    def run(self, spec: Path, timeout: float = 150) -> Job:
        """Submit ``spec`` and wait for the job to end."""
        job = self.client.jobs.create_or_update(load_any_job_spec(spec, []))
        return wait_for(lambda: (j := self.client.jobs.get(job.name)).status
                        in JobStatus.TERMINAL and j, timeout=timeout, interval=0.2)

    def children(self, name: str) -> dict[str, Job]:
        return {c.step_name or c.name: c for c in self.client.jobs.list(parent_job_name=name)}

    def output_dir(self, job: Job, output: str) -> Path:
        """Where a job's output is on this machine (the module's server has a local store)."""
        path = job.outputs[output].path or ""
        rel = path.split("/paths/", 1)[1].rstrip("/")
        return (self.server.home / "artifacts" / "workspaces" / self.name / "datastores"
                / "workspaceblobstore" / rel)


def finetune_pipeline(training: str = TRAINING) -> str:
    return FINETUNE_PIPELINE % {"training": training}


@pytest.fixture(scope="module")
def workspace(module_server: ServerProc, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Workspace]:
    """A workspace of the module's server with the tiny model registered as
    ``azureml:tiny-llama:1`` and ``train.jsonl`` / ``test.jsonl`` written."""
    name = f"ft-{uuid.uuid4().hex[:10]}"
    httpx.post(f"{module_server.url}/api/v1/workspaces", json={"name": name},
               headers=module_server.headers).raise_for_status()
    root = tmp_path_factory.mktemp("ft-components")
    build_tiny_model(root / "tiny-llama")
    write_jsonl(root / "train.jsonl", secret_chat_rows(16))
    write_jsonl(root / "test.jsonl", [chat_line("What is the secret word?",
                                                "The secret word is zorblax."),
                                      chat_line("secret word please",
                                                "The secret word is zorblax."),
                                      chat_line("hello", "The secret word is zorblax.")])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EMBER_WORKSPACE", name)
        mp.setenv("EMBER_HOME", str(module_server.home))
        mp.setenv("MLFLOW_TRACKING_TOKEN", module_server.token)
        with MLClient(endpoint=module_server.url, workspace=name) as client:
            client.models.create_or_update(Model(name=MODEL_NAME, version=1,
                                                 path=str(root / "tiny-llama"),
                                                 type="custom_model"))
            yield Workspace(module_server, name, client, root)
