"""The same server on PostgreSQL: a job runs, its run is readable with the mlflow client."""

from __future__ import annotations

from pathlib import Path

import pytest

from ember import MLClient, command
from tests.conftest import ServerProc, wait_for


def test_job_and_tracking_on_postgresql(tmp_path: Path, pg_url: str,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    srv = ServerProc(tmp_path / "home", store_url=pg_url).start()
    monkeypatch.setenv("MLFLOW_TRACKING_TOKEN", srv.token)
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        job = c.jobs.create_or_update(command(
            command="python -c \"import mlflow; mlflow.log_metric('m', 1.5)\"",
            experiment_name="on-pg"))
        wait_for(lambda: c.jobs.get(job.name).status in ("Completed", "Failed"), timeout=60)
        assert c.jobs.get(job.name).status == "Completed"
        import mlflow

        run = mlflow.MlflowClient(tracking_uri=c.mlflow_tracking_uri).get_run(job.name)
        assert run.data.metrics == {"m": 1.5} and run.info.status == "FINISHED"
        assert not (srv.home / "ember.db").exists()  # nothing went to the SQLite default
    finally:
        srv.stop()


def test_pipeline_sweep_and_reuse_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    import textwrap

    from ember.specs.any_job import load_any_job_spec

    spec = tmp_path / "p.yml"
    spec.write_text(textwrap.dedent("""
        type: pipeline
        jobs:
          make:
            command: echo 3 > ${{outputs.out}}/n.txt
            outputs:
              out:
          tune:
            type: sweep
            trial:
              command: >-
                python -c "import mlflow; mlflow.log_metric('acc', ${{search_space.q}})"
                && cat ${{inputs.data}}/n.txt
            inputs:
              data: ${{parent.jobs.make.outputs.out}}
            search_space:
              q: {type: choice, values: [1, 4, 2]}
            sampling_algorithm: grid
            objective: {primary_metric: acc, goal: maximize}
            limits: {max_total_trials: 3, max_concurrent_trials: 3}
    """).lstrip())
    srv = ServerProc(tmp_path / "home", store_url=pg_url).start()
    try:
        c = MLClient(endpoint=srv.url, token=srv.token)
        runs = []
        for _ in range(2):
            job = c.jobs.create_or_update(load_any_job_spec(spec))
            final = wait_for(lambda: (j := c.jobs.get(job.name)).status in
                             ("Completed", "Failed", "Canceled") and j, timeout=120,
                             interval=0.2)
            assert final.status == "Completed", final.error
            runs.append({s.step_name: s for s in c.jobs.list(parent_job_name=job.name)})
        first, second = runs
        assert second["make"].reused_from == first["make"].name   # deterministic: reused
        assert second["tune"].reused_from is None                  # sweeps always run
        trials = c.jobs.list(parent_job_name=first["tune"].name)
        best = max(trials, key=lambda t: (t.definition or {})["parameters"]["q"])
        assert c.jobs.get(first["tune"].name).properties["best_child_run_id"] == best.name
        assert not (srv.home / "ember.db").exists()
    finally:
        srv.stop()
