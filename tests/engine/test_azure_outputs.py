"""Outputs as Azure ML has them (issue 10, item 2): ``./outputs`` and ``./logs`` exist before the
command starts, a pipeline step's default ``artifacts`` output carries what it wrote under
``./outputs``, and a ``uri_file`` output bound to a pipeline output is a file, not a folder."""

from __future__ import annotations

import textwrap
from pathlib import Path

from ember import MLClient
from ember.entities.jobs import JobStatus
from tests.conftest import ServerProc, job_log, wait_ended
from tests.test_cli import create_job


def _spec(tmp_path: Path, text: str, name: str = "job.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip())
    return path





def test_outputs_and_logs_folders_exist_before_the_command(server: ServerProc,
                                                           tmp_path: Path) -> None:
    spec = _spec(tmp_path, """
        command: >-
          test -d ./outputs && test -d ./logs &&
          echo hello > ./outputs/x.txt && echo note > ./logs/run.log
        """)
    name = create_job(server, spec)
    with MLClient(endpoint=server.url) as c:
        assert wait_ended(c, name).status == JobStatus.COMPLETED, job_log(c, name)
        files = c.jobs.download(name, tmp_path / "dl", all=True)
    assert (tmp_path / "dl/artifacts/outputs/x.txt").read_text() == "hello\n"
    assert (tmp_path / "dl/artifacts/logs/run.log").read_text() == "note\n"
    assert files


ARTIFACTS_PIPELINE = """
type: pipeline
jobs:
  produce:
    command: mkdir -p ./outputs/sub && echo made > ./outputs/x.txt && echo deep > ./outputs/sub/y.txt
  consume:
    command: cat ${{inputs.got}}/x.txt ${{inputs.got}}/sub/y.txt
    inputs:
      got: ${{parent.jobs.produce.outputs.artifacts}}
"""


def test_default_artifacts_output_of_a_step_feeds_the_next_step(server: ServerProc,
                                                                tmp_path: Path) -> None:
    name = create_job(server, _spec(tmp_path, ARTIFACTS_PIPELINE, "pipe.yml"))
    with MLClient(endpoint=server.url) as c:
        assert wait_ended(c, name).status == JobStatus.COMPLETED, c.jobs.get(name).error
        steps = {s.step_name: s for s in c.jobs.list(parent_job_name=name)}
        assert job_log(c, steps["consume"].name).splitlines()[-2:] == ["made", "deep"]
        # Listed and downloaded as the step's output named artifacts, too.
        c.jobs.download(steps["produce"].name, tmp_path / "dl", output_name="artifacts")
    got = tmp_path / "dl/named-outputs/artifacts"
    assert (got / "x.txt").read_text() == "made\n"
    assert (got / "sub/y.txt").read_text() == "deep\n"


URI_FILE_PIPELINE = """
type: pipeline
outputs:
  report:
    type: uri_file
jobs:
  write:
    command: >-
      test ! -d ${{outputs.o}} && test -d "$(dirname ${{outputs.o}})" &&
      echo report-body > ${{outputs.o}}
    outputs:
      o: ${{parent.outputs.report}}
"""


def test_uri_file_output_bound_to_a_pipeline_output_is_a_file(server: ServerProc,
                                                             tmp_path: Path) -> None:
    name = create_job(server, _spec(tmp_path, URI_FILE_PIPELINE, "pipe.yml"))
    with MLClient(endpoint=server.url) as c:
        final = wait_ended(c, name).status
        step = c.jobs.list(parent_job_name=name)[0]
        assert final == JobStatus.COMPLETED, job_log(c, step.name)
        pipe = c.jobs.get(name)
        assert pipe.outputs["report"].path == step.outputs["o"].path
        assert not (pipe.outputs["report"].path or "").endswith("/")
        files = c.jobs.download(name, tmp_path / "dl", output_name="report")
    assert [f.read_text() for f in files] == ["report-body\n"]
