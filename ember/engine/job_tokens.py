"""A job's own token: made when its runner is prepared, handed to the runner (``runner.json``)
and to the user code (``EMBER_TOKEN``, ``MLFLOW_TRACKING_TOKEN``), revoked when the job ends.

It reads the job's workspace and writes only that job's reports, logs and outputs and the
MLflow tracking protocol (``server/deps.py``); a job of the flow engine (a flow run, a pipeline's
flow step) may also read its workspace's connections' secrets, which its flow's nodes need
(anyone who may submit a job may read them); no other job may.
"""

from __future__ import annotations

from ember.entities.auth import SECRETS
from ember.entities.flow_runs import FLOW_RUN
from ember.entities.jobs import Job
from ember.services.auth import OWNER_USER, AuthService

KIND = "job"
FLOW_ENGINE = "-m ember.flows.batch"


class JobTokens:
    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    def issue(self, workspace: str, job: Job) -> str | None:
        """The job's token, or None when the server runs without authentication."""
        if not self.auth.enabled:
            return None
        # the flow engine's jobs (flow runs, flow steps of pipelines) read their connections
        flow = FLOW_RUN in job.properties or FLOW_ENGINE in job.command
        grants: list[str] = [SECRETS] if flow else []
        if job.parent_job_name:
            # a child may write its parent's run (a fine-tuning training logs the job's own)
            grants.append(f"run:{job.parent_job_name}")
        return self.auth.create_workload_token(kind=KIND, user=OWNER_USER, workspace=workspace,
                                               subject=job.name, grants=grants)

    def revoke(self, workspace: str, name: str) -> None:
        if self.auth.enabled:
            self.auth.revoke_workload(KIND, workspace, name)
