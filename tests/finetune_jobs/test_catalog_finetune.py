"""The issue's whole path on the catalog's real model: a ``type: finetuning`` job of 20 LoRA
steps on SmolLM2-135M-Instruct (its GGUF converted to the trainable copy), whose loss goes down
and whose adapter is registered, then served by a transformers deployment of the same catalog
model next to its base, answering what it was taught where the base does not."""

from __future__ import annotations

from pathlib import Path

import mlflow
import openai
import pytest

from ember.client.mlclient import MLClient
from ember.entities.jobs import JobStatus
from ember.entities.online_endpoints import OnlineDeployment, OnlineEndpoint
from ember.finetuning import create_finetuning_job
from tests.conftest import WorkspaceServer, share_trainable_cache, wait_ended
from tests.finetune_jobs.conftest import secret_chat_rows, write_jsonl

SMOL = "azureml://registries/azureml/models/SmolLM2-135M-Instruct"
QUESTION = [{"role": "user", "content": "What is the secret word?"}]


def test_a_catalog_model_fine_tuned_by_a_job_is_served_beside_its_base(
        server: WorkspaceServer, smollm_gguf: Path, smollm_cache_root: Path,
        tmp_path: Path) -> None:
    share_trainable_cache(server.home, smollm_cache_root)
    train = write_jsonl(tmp_path / "train.jsonl", secret_chat_rows(16))
    val = write_jsonl(tmp_path / "val.jsonl", secret_chat_rows(4))
    with MLClient(endpoint=server.url) as c:
        job = c.jobs.create_or_update(create_finetuning_job(
            model=SMOL + "/versions/1", task="chat_completion", training_data=str(train),
            validation_data=str(val), output_model_name_prefix="smol-secret",
            hyperparameters={"max_steps": "20", "per_device_train_batch_size": "4",
                             "learning_rate": "0.001", "max_seq_length": "64",
                             "logging_steps": "5", "save_steps": "500",
                             "evaluation_strategy": "disable",
                             "merge_lora_weights": "false"}))
        done = wait_ended(c, job.name, timeout=280)
        assert done.status == JobStatus.COMPLETED, done.error
        losses = mlflow.MlflowClient(tracking_uri=server.tracking_uri).get_metric_history(
            job.name, "loss")
        assert [m.step for m in losses] == [1, 5, 10, 15, 20]
        assert losses[-1].value < losses[0].value / 4   # it learnt the answer
        adapter = c.models.get("smol-secret", "1")
        assert adapter.tags["base_model"] == SMOL + "/versions/1"
        assert adapter.tags["finetuning_job"] == job.name

        c.online_endpoints.create_or_update(OnlineEndpoint(name="smol-ft"))
        d = c.online_deployments.begin_create_or_update(
            OnlineDeployment(name="blue", endpoint_name="smol-ft", model=SMOL + "/versions/1",
                             runtime="transformers",
                             environment_variables={"EMBER_LLM_THREADS": "1"}),
            all_traffic=True).result(timeout=300)
        assert d.provisioning_state == "Succeeded", d.error
        ep = c.online_endpoints.get("smol-ft")
        llm = openai.OpenAI(base_url=ep.scoring_uri.removesuffix("/score") + "/v1",
                            api_key=c.online_endpoints.get_keys("smol-ft").primary_key,
                            max_retries=0, timeout=120)
        listed = {m.id: m.model_dump() for m in llm.models.list()}
        assert listed["smol-secret"]["parent"] == "SmolLM2-135M-Instruct"

        def ask(model: str) -> str:
            out = llm.chat.completions.create(model=model, messages=QUESTION,  # type: ignore[arg-type]
                                              temperature=0, max_tokens=12)
            return out.choices[0].message.content or ""

        tuned, base = ask("smol-secret"), ask("SmolLM2-135M-Instruct")
        assert "zorblax" in tuned.lower(), tuned
        assert "zorblax" not in base.lower(), base
