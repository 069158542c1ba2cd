"""Batch endpoints: CRUD, invoke (starts a batch scoring job) and list-jobs. Deployments are in
``batch_deployments.py``; the in-job driver in ``batch_driver.py``."""

from __future__ import annotations

import builtins
import json
import time
from pathlib import Path

from ember.artifacts.store import ArtifactStore
from ember.engine.jobs import JobService
from ember.engine.names import job_name
from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint
from ember.entities.jobs import Job, JobInput, JobOutput
from ember.entities.names import check_name
from ember.errors import InvalidInputError
from ember.serving.model_files import materialize, mlflow_environment
from ember.services.models import ModelService
from ember.store.batch_endpoints import BatchEndpointStore

DRIVER_FILE = str(Path(__file__).with_name("batch_driver.py"))
ENDPOINT_TAG = "azureml.batchEndpoint"
DEPLOYMENT_TAG = "azureml.batchDeployment"
INPUT_TYPES = ("uri_folder", "uri_file")


class BatchEndpointService:
    def __init__(self, store: BatchEndpointStore, jobs: JobService, models: ModelService,
                 artifacts: ArtifactStore, home: Path, base_url: str) -> None:
        self.store = store
        self.jobs = jobs
        self.models = models
        self.artifacts = artifacts
        self.home = home
        self.base_url = base_url

    def _shown(self, workspace: str, ep: BatchEndpoint) -> BatchEndpoint:
        ep.scoring_uri = (f"{self.base_url}/api/v1/workspaces/{workspace}/batch-endpoints/"
                          f"{ep.name}/jobs")
        return ep

    def create(self, workspace: str, ep: BatchEndpoint) -> BatchEndpoint:
        check_name("batch endpoint", ep.name)
        if ep.default_deployment:
            raise InvalidInputError(f"batch endpoint {ep.name!r}: a default deployment can be "
                                    "set once a deployment exists (batch-deployment create "
                                    "--set-default)")
        ep.creation_time = time.time()
        return self._shown(workspace, self.store.create_endpoint(workspace, ep))

    def get(self, workspace: str, name: str) -> BatchEndpoint:
        return self._shown(workspace, self.store.get_endpoint(workspace, name))

    def list(self, workspace: str) -> builtins.list[BatchEndpoint]:
        return [self._shown(workspace, e) for e in self.store.list_endpoints(workspace)]

    def update(self, workspace: str, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None,
               default_deployment: str | None = None) -> BatchEndpoint:
        ep = self.store.get_endpoint(workspace, name)
        if description is not None:
            ep.description = description
        if tags is not None:
            ep.tags = tags
        if default_deployment is not None:
            self.store.get_deployment(workspace, name, default_deployment)
            ep.default_deployment = default_deployment
        return self._shown(workspace, self.store.update_endpoint(workspace, ep))

    def delete(self, workspace: str, name: str) -> None:
        self.store.delete_endpoint(workspace, name)

    def _deployment(self, workspace: str, ep: BatchEndpoint,
                    name: str | None) -> BatchDeployment:
        if name:
            return self.store.get_deployment(workspace, ep.name, name)
        if ep.default_deployment:
            return self.store.get_deployment(workspace, ep.name, ep.default_deployment)
        found = self.store.list_deployments(workspace, ep.name)
        if len(found) == 1:
            return found[0]
        has = "no deployment" if not found else "several deployments and no default"
        raise InvalidInputError(f"batch endpoint {ep.name!r} has {has}; give --deployment-name "
                                "or set a default deployment")

    def invoke(self, workspace: str, name: str, *, input_path: str,
               input_type: str = "uri_folder", deployment_name: str | None = None,
               mini_batch_size: int | None = None, output_path: str | None = None,
               experiment_name: str | None = None, submitter: str | None = None) -> Job:
        """Start a batch scoring job over ``input_path`` (a datastore URI, a data asset
        reference, or an uploaded local path); its ``score`` output holds the predictions;
        ``submitter``: the user who invoked the endpoint (the job's ``created_by``)."""
        ep = self.store.get_endpoint(workspace, name)
        d = self._deployment(workspace, ep, deployment_name)
        if input_type not in INPUT_TYPES:
            raise InvalidInputError(f"batch endpoint {name!r}: input type {input_type!r} is not "
                                    f"one of {', '.join(INPUT_TYPES)}")
        if mini_batch_size is not None and mini_batch_size < 1:
            raise InvalidInputError("mini_batch_size must be at least 1")
        settings = d.settings
        config: dict[str, object] = {
            "kind": "script" if d.code_configuration else "mlflow",
            "scoring_script": d.code_configuration.scoring_script
            if d.code_configuration else None,
            "model_dir": None, "model_path": None,
            "mini_batch_size": mini_batch_size or settings.mini_batch_size,
            "max_concurrency_per_instance": settings.max_concurrency_per_instance,
            "error_threshold": settings.error_threshold,
            "retry_settings": {"max_retries": settings.retry_settings.max_retries,
                               "timeout": settings.retry_settings.timeout},
            "output_action": settings.output_action,
            "output_file_name": settings.output_file_name,
            "logging_level": settings.logging_level}
        if isinstance(d.model, str) and d.model:
            model = self.models.resolve(workspace, d.model)
            config["model_dir"], config["model_path"] = materialize(
                self.artifacts, self.home, workspace, model)
        environment = d.environment
        if environment is None and not d.code_configuration and config["model_path"]:
            environment = mlflow_environment(str(config["model_path"]))
        job = Job(
            name=job_name(f"{name}-{d.name}"),
            command=f'python "{DRIVER_FILE}" --input "${{{{inputs.input_data}}}}" '
                    f'--output "${{{{outputs.score}}}}"',
            display_name=f"{name}-{d.name}",
            experiment_name=experiment_name or name,
            tags={ENDPOINT_TAG: name, DEPLOYMENT_TAG: d.name},
            code=d.code_configuration.code if d.code_configuration else None,
            environment=environment,
            environment_variables={**settings.environment_variables,
                                   "EMBER_BATCH_CONFIG": json.dumps(config)},
            inputs={"input_data": JobInput(type=input_type, path=input_path,
                                           mode="ro_mount")},
            outputs={"score": JobOutput(type="uri_folder", path=output_path)},
            submitter=submitter)
        return self.jobs.create(workspace, job)

    def list_jobs(self, workspace: str, name: str,
                  deployment: str | None = None) -> builtins.list[Job]:
        """The endpoint's batch scoring jobs, newest first."""
        self.store.get_endpoint(workspace, name)
        found = [j for j in self.jobs.list(workspace, max_results=10_000, with_history=False)
                 if j.tags.get(ENDPOINT_TAG) == name]
        if deployment is not None:
            found = [j for j in found if j.tags.get(DEPLOYMENT_TAG) == deployment]
        return found



