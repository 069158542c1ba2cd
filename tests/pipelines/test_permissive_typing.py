"""Pipeline typing as permissive as Azure ML (issue 10, item 3): a uri_file output may feed a
uri_folder input and a uri_folder output an mltable input; other mismatches stay refused; an
unknown key under ``settings:`` is kept with a notice instead of refusing the job."""

from __future__ import annotations

import json
import textwrap
import warnings
from pathlib import Path

import pytest

from ember.errors import SpecError
from ember.specs.jobs import SpecNotice
from ember.specs.pipelines import load_pipeline_spec
from tests.conftest import WorkspaceServer
from tests.test_cli import ember

# A step that writes one file (uri_file), one that reads it as a folder input and writes a
# folder holding an MLTable file, and one that reads that folder as an mltable input.
WRITE_FILE = """
name: write_file
environment: {image: python:3.11-slim}
command: echo "x,y" > ${{outputs.report}} && echo "1,2" >> ${{outputs.report}}
outputs:
  report: {type: uri_file}
"""
FOLDER_FROM_FILE = """
name: folder_from_file
environment: {image: python:3.11-slim}
command: >-
  python -c "import os,shutil,sys; src=sys.argv[1]; out=sys.argv[2];
  f=src if os.path.isfile(src) else os.path.join(src, os.listdir(src)[0]);
  shutil.copy(f, os.path.join(out, 'rows.csv'));
  open(os.path.join(out, 'MLTable'), 'w').write('paths:\\n  - file: ./rows.csv\\n')"
  ${{inputs.folder}} ${{outputs.table}}
inputs:
  folder: {type: uri_folder}
outputs:
  table: {type: uri_folder}
"""
READ_TABLE = """
name: read_table
environment: {image: python:3.11-slim}
command: cat ${{inputs.rows}}/MLTable && cat ${{inputs.rows}}/rows.csv
inputs:
  rows: {type: mltable}
"""
PIPELINE = """
type: pipeline
experiment_name: permissive
settings:
  default_datestore: workspaceblobstore
  continue_on_step_failure: false
jobs:
  write:
    component: ./write_file.yml
  to_folder:
    component: ./folder_from_file.yml
    inputs:
      folder: ${{parent.jobs.write.outputs.report}}
  read:
    component: ./read_table.yml
    inputs:
      rows: ${{parent.jobs.to_folder.outputs.table}}
"""


def _project(root: Path, pipeline: str = PIPELINE) -> Path:
    for name, text in (("write_file.yml", WRITE_FILE), ("folder_from_file.yml", FOLDER_FROM_FILE),
                       ("read_table.yml", READ_TABLE), ("pipeline.yml", pipeline)):
        (root / name).write_text(textwrap.dedent(text).lstrip())
    return root / "pipeline.yml"


def test_file_to_folder_and_folder_to_mltable_validate(tmp_path: Path) -> None:
    with pytest.warns(SpecNotice, match="settings.default_datestore is not a setting Ember "
                                        "knows; kept and ignored"):
        pipe = load_pipeline_spec(_project(tmp_path))
    assert pipe.jobs["to_folder"].inputs["folder"].step == "write"
    assert pipe.jobs["read"].inputs["rows"].step == "to_folder"
    assert pipe.settings.ignored == {"default_datestore": "workspaceblobstore"}
    assert pipe.settings.default_datastore is None   # the typo is not taken for the setting


@pytest.mark.parametrize("producer,port,consumer,words", [
    # a folder into a file input
    ("folder_from_file.yml", "table", "uri_file", ("uri_folder", "uri_file")),
    # an MLTable folder (a pipeline input) into a file input
    (None, None, "uri_file", ("mltable", "uri_file")),
    # a file into an mltable input
    ("write_file.yml", "report", "mltable", ("uri_file", "mltable")),
])
def test_other_mismatches_stay_refused(tmp_path: Path, producer: str | None, port: str | None,
                                       consumer: str, words: tuple[str, ...]) -> None:
    _project(tmp_path)
    (tmp_path / "t").mkdir()
    (tmp_path / "t/MLTable").write_text("paths:\n  - file: ./rows.csv\n")
    inputs, steps = "", ""
    if producer is None:
        source, inputs = "${{parent.inputs.t}}", "inputs:\n  t: {type: mltable, path: ./t}\n"
    else:
        source = f"${{{{parent.jobs.p.outputs.{port}}}}}"
        steps = f"  p:\n    component: ./{producer}\n"
        if producer == "folder_from_file.yml":
            steps += "    inputs:\n      folder: {type: uri_folder, path: ./t}\n"
    (tmp_path / "consumer.yml").write_text(
        "name: consumer\nenvironment: {image: python:3.11-slim}\n"
        f"command: cat ${{{{inputs.x}}}}\ninputs:\n  x: {{type: {consumer}}}\n")
    spec = tmp_path / "mismatch.yml"
    spec.write_text(f"type: pipeline\n{inputs}jobs:\n{steps}"
                    f"  c:\n    component: ./consumer.yml\n    inputs:\n      x: {source}\n")
    with pytest.raises(SpecError, match="type mismatch") as info:
        load_pipeline_spec(spec)
    assert info.value.key == "jobs.c.inputs.x"
    assert all(w in str(info.value) for w in words)


def test_known_settings_give_no_notice(tmp_path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", SpecNotice)
        pipe = load_pipeline_spec(_project(
            tmp_path, PIPELINE.replace("default_datestore", "default_datastore")))
    assert pipe.settings.ignored == {}


def test_the_pipeline_runs_to_completed_through_the_cli(server: WorkspaceServer,
                                                        tmp_path: Path) -> None:
    spec = _project(tmp_path)
    r = ember(server, "job", "create", "-f", str(spec), "--stream")
    assert r.returncode == 0, r.stdout + r.stderr
    notices = [ln for ln in r.stderr.splitlines() if ln.startswith("Notice:")]
    assert len(notices) == 1, r.stderr
    assert "settings.default_datestore is not a setting Ember knows; kept and ignored" in \
        notices[0] and "did you mean 'default_datastore'" in notices[0]
    assert "Error" not in r.stderr
    listed = json.loads(ember(server, "job", "list", "-o", "json").stdout)
    pipeline = next(j for j in listed if j["type"] == "pipeline")
    shown = json.loads(ember(server, "job", "show", "-n", pipeline["name"], "-o", "json").stdout)
    assert shown["status"] == "Completed"
    assert {s["step"]: s["status"] for s in shown["steps"]} == {
        "write": "Completed", "to_folder": "Completed", "read": "Completed"}
    log = ember(server, "job", "stream", "-n", f"{pipeline['name']}-read")
    assert "file: ./rows.csv" in log.stdout and "1,2" in log.stdout, log.stdout + log.stderr
