"""Azure's chat_completion_pipeline and model_evaluation_pipeline from the built-in azureml
registry, run as pipeline steps on a tiny Llama: outputs, metrics, reuse, side-by-side scores."""

from __future__ import annotations

import json

import pytest
from mlflow import MlflowClient

from ember.entities.jobs import Job, JobStatus
from ember.entities.models import Model
from ember.services.language_models import inspect_model_files
from tests.finetune_components.conftest import Workspace, finetune_pipeline
from tests.test_cli import ember

FT_STEPS = ("chat_completion_datapreprocess", "chat_completion_finetune")
EVALUATION = """\
  evaluate_%(name)s:
    type: pipeline
    component: azureml://registries/azureml/components/model_evaluation_pipeline/versions/0.0.20
    inputs:
      task: chat-completion
      test_data: ${{parent.inputs.test_data}}
      mlflow_model: %(model)s
      device: cpu
      max_new_tokens: 6
      compute_name: gpu-cluster-big
"""


@pytest.fixture(scope="module")
def finetuned(workspace: Workspace) -> Job:
    """The fine-tuning pipeline, run once for the module."""
    job = workspace.run(workspace.write("finetune.yml", finetune_pipeline()))
    assert job.status == JobStatus.COMPLETED, job.error
    return job


def test_chat_completion_pipeline_trains_and_writes_both_models(workspace: Workspace,
                                                                 finetuned: Job) -> None:
    nested = workspace.children(finetuned.name)["finetune"]
    assert nested.type == "pipeline"
    steps = workspace.children(nested.name)
    assert set(steps) == set(FT_STEPS)
    assert all(s.status == JobStatus.COMPLETED and not s.reused_from for s in steps.values())
    pre, ft = (steps[s] for s in FT_STEPS)

    # preprocess: 80/10/10 of the 16 training lines, as Azure splits without val/test files
    counts = {o: len(workspace.output_dir(pre, o).read_text().splitlines())
              for o in ("train_data", "validation_data", "test_data")}
    assert counts == {"train_data": 12, "validation_data": 2, "test_data": 2}

    pytorch = workspace.output_dir(ft, "pytorch_model_folder")
    assert (pytorch / "adapter" / "adapter_config.json").is_file()
    assert (pytorch / "merged" / "config.json").is_file()
    summary = json.loads((pytorch / "finetune.json").read_text())
    assert summary["steps"] == 4 and summary["data"]["validation_examples"] == 2
    mlflow_folder = workspace.output_dir(ft, "mlflow_model_folder")
    info = inspect_model_files(mlflow_folder)    # what a language-model deployment reads
    assert info is not None and info.task == "chat-completion"

    # Azure's inputs Ember does not use are named in the log when set
    log = workspace.client._http.request(
        "GET", workspace.client._http.ws(f"/jobs/{ft.name}/logs")).text
    assert "accepted and not used by Ember: apply_deepspeed=true" in log
    assert "apply_lora 'false': Ember fine-tunes with LoRA adapters" in log

    # loss and eval loss in the training step's MLflow run, one value a step
    client = MlflowClient(workspace.tracking_uri)
    assert [m.step for m in client.get_metric_history(ft.name, "loss")] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(ft.name, "eval_loss")] == [2, 4]

    # the pipeline's output registers as an MLflow model (az ml model create --type
    # mlflow_model --path azureml://jobs/<job>/outputs/trained_model)
    model = workspace.client.models.create_or_update(Model(
        name="tiny-llama-ft", type="mlflow_model",
        path=f"azureml://jobs/{finetuned.name}/outputs/trained_model"))
    assert "hftransformersv2" in model.flavors


def test_resubmitting_the_pipeline_reuses_its_steps(workspace: Workspace, finetuned: Job) -> None:
    again = workspace.run(workspace.write("finetune.yml", finetune_pipeline()))
    assert again.status == JobStatus.COMPLETED, again.error
    first = workspace.children(workspace.children(finetuned.name)["finetune"].name)
    steps = workspace.children(workspace.children(again.name)["finetune"].name)
    for name in FT_STEPS:
        assert steps[name].reused_from == first[name].name
    assert again.outputs["trained_model"].path == finetuned.outputs["trained_model"].path


def test_base_and_finetuned_models_scored_side_by_side(workspace: Workspace,
                                                        finetuned: Job) -> None:
    text = finetune_pipeline().replace(
        "inputs:\n", "inputs:\n  test_data: {type: uri_file, path: ./test.jsonl}\n"
        "  base_model_mlflow: {type: mlflow_model, path: azureml:tiny-llama:1}\n", 1)
    text += EVALUATION % {"name": "base", "model": "${{parent.inputs.base_model_mlflow}}"}
    text += EVALUATION % {"name": "finetuned",
                          "model": "${{parent.jobs.finetune.outputs.mlflow_model_folder}}"}
    job = workspace.run(workspace.write("compare.yml", text))
    assert job.status == JobStatus.COMPLETED, job.error
    children = workspace.children(job.name)
    # the fine-tuning steps are those of the module's first run: nothing trained again
    ft_steps = workspace.children(children["finetune"].name)
    assert all(s.reused_from for s in ft_steps.values())

    client = MlflowClient(workspace.tracking_uri)
    scores = {}
    for which in ("base", "finetuned"):
        steps = workspace.children(children[f"evaluate_{which}"].name)
        assert set(steps) == {"model_prediction", "compute_metrics"}
        metrics = client.get_run(steps["compute_metrics"].name).data.metrics
        assert {"rouge1", "rouge2", "bleu_3", "bleu_4"} <= set(metrics)
        result = workspace.output_dir(steps["compute_metrics"], "evaluation_result")
        assert json.loads((result / "evaluation_result.json").read_text())["rows"] == 3
        scores[which] = metrics

    r = ember(workspace.server, "job", "show", "-n", job.name, "-o", "json")
    assert r.returncode == 0, r.stderr
    shown = json.loads(r.stdout)
    assert [s["step"] for s in shown["steps"]] == ["finetune", "evaluate_base",
                                                   "evaluate_finetuned"]
    by_step = shown["step_metrics"]
    assert by_step["evaluate_base"]["rouge1"] == pytest.approx(scores["base"]["rouge1"])
    assert by_step["evaluate_finetuned"]["bleu_4"] == pytest.approx(scores["finetuned"]["bleu_4"])
    assert "loss" in by_step["finetune"]
    table = ember(workspace.server, "job", "show", "-n", job.name).stdout
    metrics_part = table.split("Metrics:")[1]
    assert "rouge1" in metrics_part and "evaluate_base" in metrics_part \
        and "evaluate_finetuned" in metrics_part


SWEEP = """\
type: pipeline
experiment_name: chat-sweep
inputs:
  base_model: {type: mlflow_model, path: azureml:tiny-llama:1}
  train_data: {type: uri_file, path: ./train.jsonl}
outputs:
  best_model: {type: mlflow_model}
jobs:
  tune:
    type: sweep
    trial: azureml://registries/azureml/components/chat_completion_finetune/labels/latest
    inputs:
      mlflow_model_path: ${{parent.inputs.base_model}}
      train_file_path: ${{parent.inputs.train_data}}
      max_steps: 4
      per_device_train_batch_size: 2
      logging_steps: 1
      evaluation_strategy: disable
      merge_lora_weights: "false"
    search_space:
      learning_rate: {type: choice, values: [0.001, 0.0001]}
    sampling_algorithm: grid
    objective: {primary_metric: loss, goal: minimize}
    limits: {max_total_trials: 2, max_concurrent_trials: 2}
    outputs:
      mlflow_model_folder: ${{parent.outputs.best_model}}
"""


def test_a_sweep_over_the_finetune_components_learning_rate(workspace: Workspace) -> None:
    job = workspace.run(workspace.write("sweep.yml", SWEEP))
    assert job.status == JobStatus.COMPLETED, job.error
    sweep = workspace.children(job.name)["tune"]
    trials = workspace.client.jobs.trials(sweep.name)
    assert sorted(t["parameters"]["learning_rate"] for t in trials) == [0.0001, 0.001]
    assert all(t["status"] == JobStatus.COMPLETED for t in trials)
    client = MlflowClient(workspace.tracking_uri)
    finals = {t["job"]: client.get_metric_history(t["job"], "loss")[-1].value for t in trials}
    best = next(t for t in trials if t["best"])
    assert finals[best["job"]] == min(finals.values())
    # without merge_lora_weights the MLflow model is the adapter, over its base's files
    adapter = workspace.output_dir(workspace.client.jobs.get(best["job"]), "mlflow_model_folder")
    assert (adapter / "adapter_config.json").is_file() and (adapter / "MLmodel").is_file()
    assert job.outputs["best_model"].path == \
        workspace.client.jobs.get(best["job"]).outputs["mlflow_model_folder"].path


TEXT_PIPELINE = """\
type: pipeline
inputs:
  base_model: {type: custom_model, path: azureml:tiny-llama:1}
jobs:
  finetune:
    type: pipeline
    component: azureml://registries/azureml/components/text_generation_pipeline/labels/latest
    inputs:
      pytorch_model_path: ${{parent.inputs.base_model}}
      train_file_path: {type: uri_file, path: ./text_train.jsonl}
      validation_file_path: {type: uri_file, path: ./text_val.jsonl}
      test_file_path: {type: uri_file, path: ./text_val.jsonl}
      text_key: prompt
      ground_truth_key: answer
      max_steps: 2
      logging_steps: 1
      evaluation_strategy: disable
"""


def test_text_generation_pipeline_reads_its_columns_and_keeps_given_splits(
        workspace: Workspace) -> None:
    rows = [json.dumps({"prompt": f"the secret word is {i}", "answer": " zorblax"})
            for i in range(6)]
    workspace.write("text_train.jsonl", "\n".join(rows) + "\n")
    workspace.write("text_val.jsonl", "\n".join(rows[:2]) + "\n")
    job = workspace.run(workspace.write("text.yml", TEXT_PIPELINE))
    assert job.status == JobStatus.COMPLETED, job.error
    steps = workspace.children(workspace.children(job.name)["finetune"].name)
    pre, ft = steps["text_generation_datapreprocess"], steps["text_generation_finetune"]
    train = workspace.output_dir(pre, "train_data").read_text().splitlines()
    assert len(train) == 6 and json.loads(train[0]) == {"prompt": "the secret word is 0",
                                                        "answer": " zorblax"}
    summary = json.loads((workspace.output_dir(ft, "pytorch_model_folder")
                          / "finetune.json").read_text())
    assert summary["task"] == "text_completion" and summary["steps"] == 2
    assert summary["hyperparameters"]["text_key"] == "prompt"
    mlmodel = (workspace.output_dir(ft, "mlflow_model_folder") / "MLmodel").read_text()
    assert "task_type: text-generation" in mlmodel
