"""The same server on PostgreSQL: a job runs, its run is readable with the mlflow client."""

from __future__ import annotations

from pathlib import Path

from ember import MLClient, command
from tests.conftest import ServerProc, wait_for


def test_job_and_tracking_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    srv = ServerProc(tmp_path / "home", store_url=pg_url).start()
    try:
        c = MLClient(endpoint=srv.url)
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
