from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from ember.entities.environments import Environment
from ember.entities.jobs import JobInput, JobOutput
from ember.errors import SpecError
from ember.specs.expressions import render_command
from ember.specs.jobs import job_extras, job_from_dict, load_job_spec
from ember.specs.yamlio import load_yaml

# The shape of azureml-examples cli/jobs/single-step/... command jobs.
TRAIN_JOB = """
    $schema: https://azuremlschemas.azureedge.net/latest/commandJob.schema.json
    code: src
    command: >-
      python train.py
      --data ${{inputs.iris}} --ref ${{inputs.ref}} --url ${{inputs.remote}}
      --lr ${{inputs.learning_rate}} --deep ${{inputs.deep}} --label ${{inputs.label}}
      $[[--max_epochs ${{inputs.max_epochs}}]]
      --model ${{outputs.model_output}}
    inputs:
      iris:
        type: uri_folder
        path: ./data
        mode: ro_mount
      ref:
        type: uri_file
        path: data/iris.csv
        mode: download
      remote:
        type: uri_file
        path: https://azuremlexamples.blob.core.windows.net/datasets/iris.csv
        mode: direct
      learning_rate: 0.01
      deep: true
      label: species
      max_epochs:
        type: integer
        optional: true
    outputs:
      model_output:
      scores:
        type: uri_file
        mode: upload
    environment:
      image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
      conda_file: conda.yml
    environment_variables:
      MODE: train
    compute: azureml:cpu-cluster
    display_name: sklearn-iris
    experiment_name: iris-example
    description: Train a model on the iris data.
    tags:
      team: ml
      round: 2
    limits:
      timeout: 3600
    """
CONDA = """
    name: train
    channels: [conda-forge]
    dependencies:
      - python=3.10
      - pip
      - pip:
          - scikit-learn==1.5.0
    """


@pytest.fixture
def train_job(write: Callable[..., Path]) -> Path:
    write("src/train.py", "print('hi')\n")
    write("data/iris.csv", "a,b\n1,2\n")
    write("conda.yml", CONDA)
    return write("job.yml", TRAIN_JOB)


def _line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(needle)


def test_azure_example_shape(train_job: Path) -> None:
    base = train_job.parent.resolve()
    job = load_job_spec(train_job)
    assert job.type == "command" and job.name == ""
    assert job.code == str(base / "src")
    assert job.command.startswith("python train.py --data ${{inputs.iris}}")
    assert job.inputs["iris"] == JobInput(type="uri_folder", path=str(base / "data"),
                                          mode="ro_mount")
    assert job.inputs["ref"] == JobInput(type="uri_file", path=str(base / "data/iris.csv"),
                                         mode="download")
    assert str(job.inputs["remote"].path).startswith("https://")
    assert job.inputs["remote"].mode == "direct"
    assert job.inputs["learning_rate"] == JobInput(type="number", value=0.01)
    assert type(job.inputs["learning_rate"].value) is float
    assert job.inputs["deep"] == JobInput(type="boolean", value=True)
    assert job.inputs["label"] == JobInput(type="string", value="species")
    assert job.inputs["max_epochs"] == JobInput(type="integer", value=None, optional=True)
    assert job.outputs == {"model_output": JobOutput(),
                           "scores": JobOutput(type="uri_file", mode="upload")}
    assert isinstance(job.environment, Environment)
    assert job.environment.name == "" and job.environment.version == ""
    assert str(job.environment.image).startswith("mcr.microsoft.com/")
    assert type(job.environment.conda_file) is dict
    assert job.environment.conda_file["dependencies"][2] == {"pip": ["scikit-learn==1.5.0"]}
    assert job.environment_variables == {"MODE": "train"}
    assert job.compute == "azureml:cpu-cluster"
    assert (job.display_name, job.experiment_name) == ("sklearn-iris", "iris-example")
    assert job.tags == {"team": "ml", "round": "2"}
    assert job.timeout == 3600.0


def test_optional_segment_rendered_both_ways(train_job: Path) -> None:
    job = load_job_spec(train_job)
    values = {"iris": "/mnt/iris", "ref": "/mnt/iris.csv", "remote": "https://x",
              "learning_rate": "0.01", "deep": "True", "label": "species"}
    without = render_command(job.command, values, {"model_output": "/out"})
    assert "--max_epochs" not in without
    assert without.endswith("--label species  --model /out")
    with_epochs = render_command(job.command, {**values, "max_epochs": "10"},
                                 {"model_output": "/out"})
    assert "--label species --max_epochs 10 --model /out" in with_epochs
    assert "$[[" not in with_epochs and "${{" not in with_epochs


def test_overrides(train_job: Path) -> None:
    job = load_job_spec(train_job, [
        "environment_variables.X=1", "inputs.max_epochs.default=5", "inputs.learning_rate=0.5",
        "limits.timeout=60", "experiment_name=other", "tags.flag=True", "compute=local"])
    assert job.environment_variables == {"MODE": "train", "X": "1"}
    assert job.inputs["max_epochs"] == JobInput(type="integer", value=5, optional=True)
    assert job.inputs["learning_rate"].value == 0.5
    assert job.timeout == 60.0
    assert job.experiment_name == "other"
    assert job.tags["flag"] == "True"
    assert job.compute == "local"


def test_override_errors_name_the_override(train_job: Path) -> None:
    with pytest.raises(SpecError) as info:
        load_job_spec(train_job, ["limits.timeout=-5"])
    assert "--set limits.timeout=-5" in str(info.value)
    assert "job.yml" in str(info.value)
    with pytest.raises(SpecError) as info:
        load_job_spec(train_job, ["limts.timeout=5"])
    assert "did you mean 'limits'?" in str(info.value)
    assert "--set limts.timeout=5" in str(info.value)
    with pytest.raises(SpecError, match="key.path=value"):
        load_job_spec(train_job, ["limits.timeout"])


def test_minimal_job_defaults(write: Callable[..., Path]) -> None:
    job = load_job_spec(write("job.yml", "command: echo hello\n"))
    assert (job.type, job.compute, job.experiment_name, job.environment) == \
        ("command", "local", "", None)
    assert job.code is None and job.inputs == {} and job.outputs == {} and job.timeout is None


def test_environment_reference_and_pip_requirements(write: Callable[..., Path]) -> None:
    job = load_job_spec(write("a.yml", """
        command: echo
        environment: azureml:AzureML-sklearn-1.5@latest
        """))
    assert job.environment == "azureml:AzureML-sklearn-1.5@latest"
    write("requirements.txt", "# deps\nnumpy==2.0\n\nscikit-learn\n")
    job = load_job_spec(write("b.yml", """
        command: echo
        environment:
          conda_file: requirements.txt
        """))
    assert isinstance(job.environment, Environment)
    assert job.environment.pip_requirements == ["numpy==2.0", "scikit-learn"]
    assert job.environment.conda_file is None


def test_data_input_references_and_uris_kept(write: Callable[..., Path]) -> None:
    job = load_job_spec(write("job.yml", """
        command: echo ${{inputs.a}} ${{inputs.b}} ${{inputs.c}} ${{inputs.d}}
        inputs:
          a: {type: uri_folder, path: "azureml:iris-data:1"}
          b: {type: uri_folder, path: "azureml://datastores/workspaceblobstore/paths/iris/"}
          c: {path: "wasbs://c@acct.blob.core.windows.net/x"}
          d: {type: integer, default: 3}
        outputs:
          o: {type: uri_folder, path: "azureml://datastores/workspaceblobstore/paths/${{name}}"}
        """))
    assert job.inputs["a"].path == "azureml:iris-data:1"
    assert str(job.inputs["b"].path).startswith("azureml://datastores/")
    assert job.inputs["c"] == JobInput(type="uri_folder", path=job.inputs["c"].path,
                                       mode="ro_mount")
    assert job.inputs["d"] == JobInput(type="integer", value=3)
    assert str(job.outputs["o"].path).endswith("${{name}}")


def test_job_from_plain_dict(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    job = job_from_dict({"command": "echo", "code": "src"}, "inline", tmp_path)
    assert job.code == str((tmp_path / "src").resolve())
    with pytest.raises(SpecError) as info:
        job_from_dict({"command": "echo", "cod": "src"}, "inline", tmp_path)
    assert "inline: unknown key 'cod'" in str(info.value)


def test_job_extras(write: Callable[..., Path]) -> None:
    path = write("job.yml", """
        command: echo
        resources: {instance_count: 2, shm_size: 2g}
        distribution: {type: pytorch, process_count_per_instance: 2}
        queue_settings: {job_tier: Spot}
        identity: {type: user_identity}
        is_deterministic: false
        services:
          tb: {type: tensor_board, log_dir: logs}
        """)
    load_job_spec(path)
    extras = job_extras(load_yaml(path))
    assert extras["distribution"] == {"type": "pytorch", "process_count_per_instance": 2}
    assert extras["resources"]["instance_count"] == 2
    assert extras["is_deterministic"] is False


@pytest.mark.parametrize(("job_type", "message"), [
    ("pipeline", "job type 'pipeline' is not supported yet"),
    ("sweep", "job type 'sweep' is not supported yet"),
    ("comand", "did you mean 'command'?"),
])
def test_other_job_types(write: Callable[..., Path], job_type: str, message: str) -> None:
    with pytest.raises(SpecError) as info:
        load_job_spec(write("job.yml", f"type: {job_type}\njobs: {{}}\n"))
    assert message in str(info.value)
    assert "job.yml:1:" in str(info.value)


def _fails(path: Path, overrides: list[str] | None = None) -> SpecError:
    with pytest.raises(SpecError) as info:
        load_job_spec(path, overrides)
    assert str(path) in str(info.value)
    return info.value


def test_unknown_top_level_key(train_job: Path) -> None:
    text = train_job.read_text().replace("environment_variables:", "enviroment_variables:")
    train_job.write_text(text)
    err = _fails(train_job)
    line = _line_of(train_job, "enviroment_variables:")
    assert f"job.yml:{line}:" in str(err)
    assert "unknown key 'enviroment_variables'" in str(err)
    assert "did you mean 'environment_variables'?" in str(err)
    assert err.line == line and err.key == "enviroment_variables"


@pytest.mark.parametrize(("old", "new", "key", "suggestion"), [
    ("    mode: download", "    mdoe: download", "inputs.ref.mdoe", "mode"),
    ("    mode: upload", "    modes: upload", "outputs.scores.modes", "mode"),
    ("  timeout: 3600", "  timout: 3600", "limits.timout", "timeout"),
    ("  conda_file: conda.yml", "  condafile: conda.yml", "environment.condafile", "conda_file"),
    ("    optional: true", "    optinal: true", "inputs.max_epochs.optinal", "optional"),
])
def test_unknown_nested_key(train_job: Path, old: str, new: str, key: str,
                            suggestion: str) -> None:
    text = train_job.read_text()
    assert old in text
    train_job.write_text(text.replace(old, new, 1))
    err = _fails(train_job)
    line = _line_of(train_job, new)
    assert f"job.yml:{line}:" in str(err)
    assert f"unknown key '{key}'" in str(err)
    assert f"did you mean '{suggestion}'?" in str(err)


@pytest.mark.parametrize(("yaml_text", "key", "fragment"), [
    ("command: [echo, hi]\n", "command", "must be a string"),
    ("command: echo\ninputs: [a, b]\n", "inputs", "must be a mapping"),
    ("command: echo\nlimits:\n  timeout: -1\n", "limits.timeout", "positive number"),
    ("command: echo\nlimits:\n  timeout: soon\n", "limits.timeout", "positive number"),
    ("command: echo\nlimits: 30\n", "limits", "must be a mapping"),
    ("command: echo\ninputs:\n  x: {type: dataset, path: .}\n", "inputs.x.type", "not one of"),
    ("command: echo\ninputs:\n  x: {type: uri_folder, path: ., mode: rw_mount}\n",
     "inputs.x.mode", "not one of"),
    ("command: echo\ninputs:\n  x: {type: uri_folder, path: ., mode: eval_mount}\n",
     "inputs.x.mode", "only for mltable"),
    ("command: echo\noutputs:\n  o: {mode: ro_mount}\n", "outputs.o.mode", "not one of"),
    ("command: echo\noutputs:\n  o: 3\n", "outputs.o", "must be empty or a mapping"),
    ("command: echo\ninputs:\n  x: {type: integer, default: many}\n", "inputs.x.default",
     "must be of type integer"),
    ("command: echo\ninputs:\n  x: {type: integer}\n", "inputs.x", "has no value"),
    ("command: echo\ninputs:\n  x:\n", "inputs.x", "has no value"),
    ("command: echo\ninputs:\n  x: [1]\n", "inputs.x", "must be a literal"),
    ("command: echo\ninputs:\n  x: {type: uri_folder}\n", "inputs.x.path", "is required"),
    ("command: echo\ninputs:\n  x: {type: integer, default: 1, path: .}\n", "inputs.x.path",
     "only for data inputs"),
    ("command: echo\ninputs:\n  path: 1\n", "inputs.path", "reserved name"),
    ("command: echo\ninputs:\n  2x: 1\n", "inputs.2x", "not a valid name"),
    ("command: echo\ninputs:\n  x: {path: 'azureml:a:b:c'}\n", "inputs.x.path",
     "not an asset reference"),
    ("command: echo\ntags: [a]\n", "tags", "must be a mapping"),
    ("command: echo\ntags:\n  a: [1]\n", "tags.a", "must be a scalar"),
    ("command: echo\nenvironment_variables: FOO\n", "environment_variables", "must be a mapping"),
    ("command: echo\nenvironment: python:3.11\n", "environment", "not an asset reference"),
    ("command: echo\nenvironment: 3\n", "environment", "must be a reference or a mapping"),
    ("command: echo\nenvironment:\n  name: 'bad name'\n  image: x\n", "environment.name",
     "not a valid name"),
    ("command: echo\nenvironment:\n  description: no image\n", "environment", "needs 'image'"),
    ("command: echo\ncompute: https://x\n", "compute", "not a compute name"),
    ("command: echo\ncompute: 'azureml:'\n", "compute", "not a compute reference"),
    ("command: echo\nis_deterministic: yes\n", "is_deterministic", "true or false"),
    ("command: echo\nname: 'bad name!'\n", "name", "not a valid job name"),
    ("command: echo\ndistribution: {type: mpi}\n", "distribution.process_count_per_instance",
     "is required"),
    ("command: echo\ndistribution: {type: horovod}\n", "distribution.type", "not one of"),
    ("command: echo\nresources: {instance_count: 0}\n", "resources.instance_count", ">= 1"),
    ("command: echo\nidentity: {type: root}\n", "identity.type", "not one of"),
    ("command: echo\nqueue_settings: {priority: urgent}\n", "queue_settings.priority",
     "not one of"),
    ("command: echo\ntype: 3\n", "type", "must be a string"),
    ("name: x\n", "command", "is required"),
    ("command: ''\n", "command", "must not be empty"),
])
def test_wrong_values(write: Callable[..., Path], yaml_text: str, key: str,
                      fragment: str) -> None:
    err = _fails(write("job.yml", yaml_text))
    assert err.key == key
    assert fragment in str(err)
    assert re.search(r"job\.yml:\d+:", str(err)), str(err)


def test_missing_code_folder(write: Callable[..., Path], tmp_path: Path) -> None:
    err = _fails(write("job.yml", "command: python x.py\ncode: ./srcs\n"))
    assert err.key == "code" and err.line == 2
    assert str((tmp_path / "srcs").resolve()) in str(err)
    assert "not found" in str(err)


def test_missing_local_input_and_wrong_kind(write: Callable[..., Path]) -> None:
    write("data/f.csv", "x\n")
    err = _fails(write("job.yml", "command: echo\ninputs:\n  d: {path: ./nope}\n"))
    assert err.key == "inputs.d.path" and "not found" in str(err)
    err = _fails(write("job.yml", "command: echo\ninputs:\n  d: {type: uri_file, path: data}\n"))
    assert "must be a file" in str(err)
    err = _fails(write("job.yml", "command: echo\ninputs:\n  d: {type: mltable, path: data}\n"))
    assert "MLTable" in str(err)


def test_missing_conda_file_and_bad_conda_yaml(write: Callable[..., Path]) -> None:
    err = _fails(write("job.yml", "command: echo\nenvironment:\n  image: x\n"
                                  "  conda_file: env.yml\n"))
    assert err.key == "environment.conda_file" and err.line == 4
    write("env.yml", "dependencies: [python\n")
    err = _fails(write("job.yml", "command: echo\nenvironment:\n  image: x\n"
                                  "  conda_file: env.yml\n"))
    assert "env.yml" in str(err) and "YAML syntax error" in str(err)


def test_undeclared_input_in_command(train_job: Path) -> None:
    text = train_job.read_text().replace("${{inputs.label}}", "${{inputs.lable}}")
    train_job.write_text(text)
    err = _fails(train_job)
    assert err.key == "command" and err.line == _line_of(train_job, "command:")
    assert "undeclared input 'lable'" in str(err) and "did you mean 'label'?" in str(err)


def test_optional_input_outside_segment(train_job: Path) -> None:
    text = train_job.read_text().replace("$[[--max_epochs ${{inputs.max_epochs}}]]",
                                         "--max_epochs ${{inputs.max_epochs}}")
    train_job.write_text(text)
    assert "optional input 'max_epochs'" in str(_fails(train_job))


def test_five_megabyte_job_is_valid(write: Callable[..., Path]) -> None:
    lines = ["command: python run.py", "description: |"]
    lines += [f"  Paragraph {i}: " + "lorem ipsum dolor sit amet " * 8 for i in range(21000)]
    lines.append("environment_variables:")
    lines += [f"  VAR_{i}: value-{i}" for i in range(5000)]
    lines.append("tags:")
    lines += [f"  tag_{i}: t{i}" for i in range(5000)]
    path = write("big.yml", "\n".join(lines) + "\n")
    assert path.stat().st_size > 5_000_000
    job = load_job_spec(path)
    assert len(job.environment_variables) == 5000 and len(job.tags) == 5000
    assert len(job.description) > 4_500_000


def test_overridden_command_is_named_in_errors(train_job: Path) -> None:
    err = _fails(train_job, ["command=python x.py ${{inputs.nope}}"])
    assert "undeclared input 'nope'" in str(err)
    assert "--set command=python x.py ${{inputs.nope}}" in str(err)


def test_optional_input_override_turns_segment_on(train_job: Path) -> None:
    job = load_job_spec(train_job, ["inputs.max_epochs.default=3"])
    assert job.inputs["max_epochs"].value == 3
