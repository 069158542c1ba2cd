"""Fine-tuning job YAML (``type: finetuning``, reference §3) →
:class:`~ember.entities.finetuning.FineTuningJob`.

The loader checks shapes and types here (unknown keys with did-you-mean hints, every error a
SpecError naming file, line and key) and the value rules with
:func:`~ember.entities.finetuning.finetuning_problem`, which the SDK (:func:`check_finetuning`) and
the server apply too.

How the spec lands in the entity:

- ``model``: a mapping ``{path, type}`` or a reference string (type ``mlflow_model``, as
  azure-ai-ml's ``create_finetuning_job`` makes it); the path must name a registered model.
- ``training_data`` / ``validation_data``: a string (local path, ``azureml:`` asset, URI) or a
  mapping ``{type: uri_file, path, mode}``; a local path resolves relative to the YAML file and
  must be a file.
- ``hyperparameters``: strings as Azure passes them; a number is taken as its text (``20`` →
  ``"20"``); anything else (a boolean, a list) is refused with the quoted form as hint.
- ``compute``, ``resources``, ``queue_settings`` are checked, kept, and reported as not acted on
  (a :class:`~ember.specs.jobs.SpecNotice` each): local compute is this machine.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

from ember.entities.finetuning import (
    DATA_TYPE,
    FINETUNING_TYPE,
    REGISTERED_MODEL,
    CustomModelFineTuningJob,
    FineTuningJob,
    FineTuningProblem,
    ModelOutput,
    finetuning_problem,
    normal_task,
)
from ember.entities.jobs import INPUT_MODES, JobInput
from ember.errors import InvalidInputError, SpecError
from ember.specs._schema import Ctx, Section, load_spec, plain
from ember.specs.jobs import SpecNotice
from ember.specs.references import parse_asset_ref
from ember.specs.yamlio import type_name

FINETUNING_JOB_KEYS = ("$schema", "type", "name", "display_name", "experiment_name",
                       "description", "tags", "properties", "task", "model_provider", "model",
                       "training_data", "validation_data", "hyperparameters", "outputs",
                       "compute", "resources", "queue_settings")
MODEL_KEYS = ("type", "path", "mode", "description")
DATA_KEYS = ("type", "path", "mode", "description")
OUTPUT_KEYS = ("type", "name", "description")
RESOURCES_KEYS = ("instance_types",)
QUEUE_KEYS = ("job_tier", "priority")
_MODEL_EXAMPLE = ("e.g. model: {path: azureml://registries/azureml/models/SmolLM2-135M-Instruct/"
                  "versions/1, type: mlflow_model}")


def load_finetuning_spec(path: Path, overrides: list[str] | None = None) -> FineTuningJob:
    """Load a ``type: finetuning`` job YAML, apply ``--set`` overrides, validate, return it.
    Raises SpecError naming the file, line and key of the first problem."""
    data, ctx = load_spec(path, overrides)
    return _finetuning(Section(ctx, data))


def finetuning_spec_from_dict(data: Mapping[str, Any], source: str, base_dir: Path, *,
                              overridden: dict[str, str] | None = None) -> FineTuningJob:
    """Validate a loaded fine-tuning mapping (see :func:`~ember.specs.jobs.job_from_dict`)."""
    return _finetuning(Section(Ctx(source, Path(base_dir).resolve(), overridden or {}), data))


def check_finetuning(job: FineTuningJob, source: str | None = None) -> None:
    """Validate a FineTuningJob built in Python (or sent to the server) by the rules the YAML
    loader applies. Raises SpecError whose ``key`` is the YAML key the problem is about."""
    problem = finetuning_problem(job)
    if problem is not None:
        raise SpecError(f"{problem.path}: {problem.message}", file=source, key=problem.path,
                        hint=problem.hint)


def ignored_setting(source: str, line: int | None, key: str, why: str) -> None:
    """Issue the :class:`SpecNotice` for a setting kept but not acted on (the CLI prints it as
    a ``Notice:`` line; SDK users see a warning)."""
    where = f"{source}:{line}" if line else source
    warnings.warn(SpecNotice(f"{where}: {key} is kept but not used: {why}"), stacklevel=3)


def _finetuning(top: Section) -> FineTuningJob:
    kind = top.get_str("type", required=True)
    if kind != FINETUNING_TYPE:
        top.fail("type", f"expected 'type: finetuning', not '{kind}'")
    top.check_keys(FINETUNING_JOB_KEYS)
    top.get_str("task", required=True)
    if not top.has("model"):
        top.fail("model", "is required", hint=_MODEL_EXAMPLE)
    if not top.has("training_data"):
        top.fail("training_data", "is required",
                 hint="a jsonl file: ./train.jsonl, {type: uri_file, path: ./train.jsonl}, "
                      "azureml:<data asset>:<version> or a URI")
    # azure-ai-ml loads model_provider custom (the only one Ember runs) as this class.
    job = CustomModelFineTuningJob(
        name=top.get_str("name") or "",
        display_name=top.get_str("display_name", nonempty=False) or "",
        experiment_name=top.get_str("experiment_name") or "",
        description=top.get_str("description", nonempty=False) or "",
        tags=top.get_str_map("tags"),
        properties=top.get_str_map("properties"),
        task=normal_task(top.get_str("task") or ""),
        model_provider=top.get_str("model_provider") or "custom",
        model=_model(top),
        training_data=_data(top, "training_data"),
        validation_data=_data(top, "validation_data") if top.has("validation_data") else None,
        hyperparameters=_hyperparameters(top),
        outputs=_outputs(top),
        compute=_compute(top),
        resources=_resources(top),
        queue_settings=_queue_settings(top),
    )
    problem = finetuning_problem(job)
    if problem is not None:
        _fail_at(top, problem)
    return job


def _fail_at(top: Section, problem: FineTuningProblem) -> NoReturn:
    """Raise ``problem`` at the line of its dotted key (or the deepest mapping above it)."""
    parts = problem.path.split(".")
    sec = top
    for part in parts[:-1]:
        value = sec.data.get(part)
        if not isinstance(value, Mapping):
            break
        sec = Section(sec.ctx, value, sec.key_path(part), sec.line(part))
    last = parts[-1]
    if last in sec.data:
        sec.fail(last, problem.message, hint=problem.hint)
    raise sec.ctx.error(f"{problem.path}: {problem.message}", path=problem.path,
                        line=sec.line_hint, hint=problem.hint)


def _model(top: Section) -> JobInput:
    value = top.get("model")
    if isinstance(value, str):
        return JobInput(type="mlflow_model", path=value.strip())
    if not isinstance(value, Mapping):
        top.fail("model", f"must be a mapping {{path, type}} or a model reference, not "
                          f"{type_name(value)}", hint=_MODEL_EXAMPLE)
    sec = top.section("model")
    assert sec is not None
    sec.check_keys(MODEL_KEYS)
    sec.get_str("description", nonempty=False)
    return JobInput(type=sec.get_str("type") or "mlflow_model",
                    path=sec.get_str("path", required=True),
                    mode=sec.get_choice("mode", INPUT_MODES))


def _data(top: Section, key: str) -> JobInput:
    value = top.get(key)
    if isinstance(value, str):
        return JobInput(type=DATA_TYPE, path=_data_path(top, key))
    if not isinstance(value, Mapping):
        top.fail(key, f"must be a path or a mapping {{type: uri_file, path}}, not "
                      f"{type_name(value)}")
    sec = top.section(key)
    assert sec is not None
    sec.check_keys(DATA_KEYS)
    sec.get_str("description", nonempty=False)
    if not sec.has("path"):
        sec.fail("path", "is required", hint="the jsonl file: a local path, "
                                             "azureml:<data asset>:<version> or a URI")
    return JobInput(type=sec.get_str("type") or DATA_TYPE, path=_data_path(sec, "path"),
                    mode=sec.get_choice("mode", INPUT_MODES))


def _data_path(sec: Section, key: str) -> str:
    value = sec.path_or_uri(key, kind="file")
    assert value is not None
    if value.startswith("azureml:") and not value.startswith("azureml://"):
        try:
            parse_asset_ref(value)
        except InvalidInputError as exc:
            sec.fail(key, exc.message, hint="a data asset: azureml:<name>:<version> or "
                                            "azureml:<name>@latest")
    return value


def _hyperparameters(top: Section) -> dict[str, str]:
    sec = top.section("hyperparameters")
    if sec is None:
        return {}
    out: dict[str, str] = {}
    for name, value in sec.data.items():
        if not isinstance(name, str) or not name:
            sec.fail(name, f"names must be non-empty strings, not {type_name(name)}")
        if isinstance(value, bool):
            sec.fail(name, "must be a string or a number, not a boolean",
                     hint=f"Azure passes hyperparameters as strings: write {name}: "
                          f"\"{'true' if value else 'false'}\"")
        if isinstance(value, str):
            out[name] = str(value)
        elif isinstance(value, (int, float)):
            out[name] = str(plain(value))
        else:
            sec.fail(name, f"must be a string or a number, not {type_name(value)}",
                     hint=f"e.g. {name}: \"1\"")
    return out


def _outputs(top: Section) -> dict[str, ModelOutput]:
    sec = top.section("outputs")
    if sec is None:
        return {}
    out: dict[str, ModelOutput] = {}
    for key, value in sec.data.items():
        if key != REGISTERED_MODEL:
            sec.fail(key, "is not an output of a fine-tuning job",
                     hint=f"its one output is {REGISTERED_MODEL}: {{name: ..., "
                          "type: mlflow_model}")
        if value is None:
            out[key] = ModelOutput()
            continue
        item = sec.section(key)
        assert item is not None
        item.check_keys(OUTPUT_KEYS)
        item.get_str("description", nonempty=False)
        out[key] = ModelOutput(type=item.get_str("type") or "mlflow_model",
                               name=item.get_str("name"))
    return out


def _compute(top: Section) -> str | None:
    value = top.get_str("compute")
    if value is not None:
        ignored_setting(top.ctx.source, top.line("compute"), f"compute '{value}'",
                        "a fine-tuning job runs on this machine (local compute)")
    return value


def _resources(top: Section) -> dict[str, Any] | None:
    sec = top.section("resources")
    if sec is None:
        return None
    sec.check_keys(RESOURCES_KEYS)
    types = sec.get("instance_types")
    if types is not None and (not isinstance(types, list)
                              or not all(isinstance(t, str) for t in types)):
        sec.fail("instance_types", "must be a list of VM size names",
                 hint="e.g. instance_types: [Standard_NC24ads_A100_v4]")
    ignored_setting(top.ctx.source, top.line("resources"), "resources",
                    "local compute has no VM sizes; the job uses this machine's CPU or GPU")
    return dict(plain(sec.data))


def _queue_settings(top: Section) -> dict[str, Any] | None:
    sec = top.section("queue_settings")
    if sec is None:
        return None
    sec.check_keys(QUEUE_KEYS)
    sec.get_str("job_tier")
    sec.get_str("priority")
    ignored_setting(top.ctx.source, top.line("queue_settings"), "queue_settings",
                    "local compute has no job tiers or priorities")
    return dict(plain(sec.data))

