"""A job's own token: made when its runner is prepared, handed to the runner (``runner.json``)
and to the user code (``EMBER_TOKEN``, ``MLFLOW_TRACKING_TOKEN``), revoked when the job ends.

It reads the job's workspace and writes only that job's reports, logs and outputs and the
MLflow tracking protocol (``server/deps.py``); it reads no connection's secrets: a flow job gets
the connections its flow names as an environment variable at run time (``flow_secrets.py``).
"""

from __future__ import annotations

from ember.entities.jobs import Job
from ember.services.auth import OWNER_USER, AuthService

KIND = "job"


class JobTokens:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    def issue(self, workspace: str, job: Job) -> str | None:
        """The job's token, or None when the server runs without authentication."""
        if not self.auth.enabled:
            return None
        grants: list[str] = []
        if job.parent_job_name:
            # a child may write its parent's run (a fine-tuning training logs the job's own)
            grants.append(f"run:{job.parent_job_name}")
        return self.auth.create_workload_token(kind=KIND, user=OWNER_USER, workspace=workspace,
                                               subject=job.name, grants=grants)

    def revoke(self, workspace: str, name: str) -> None:
        if self.auth.enabled:
            self.auth.revoke_workload(KIND, workspace, name)
