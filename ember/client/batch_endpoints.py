"""``client.batch_endpoints`` and ``client.batch_deployments`` (azure-ai-ml shape)."""

from __future__ import annotations

import builtins
from dataclasses import asdict
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ember.client._deployment_assets import deployment_assets
from ember.client.http import Http
from ember.client.jobs import job_with_url
from ember.client.models import ModelOperations
from ember.client.online_endpoints import Poller
from ember.client.uploads import upload
from ember.entities.batch_endpoints import BatchDeployment, BatchEndpoint
from ember.entities.jobs import Job
from ember.errors import InvalidInputError, NotFoundError
from ember.specs.references import is_uri

_FIELDS = set(BatchEndpoint.__dataclass_fields__)


def _endpoint(d: dict[str, Any]) -> BatchEndpoint:
    return BatchEndpoint(**{k: v for k, v in d.items() if k in _FIELDS})


class BatchEndpointOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str = "", tail: str = "") -> str:
        return self._http.ws("/batch-endpoints" + (f"/{quote(name, safe='')}" if name else "")
                             + tail)

    def begin_create_or_update(self, endpoint: BatchEndpoint) -> Poller[BatchEndpoint]:
        done = self.create_or_update(endpoint)
        return Poller(lambda _timeout: done)

    def create_or_update(self, endpoint: BatchEndpoint) -> BatchEndpoint:
        try:
            self.get(endpoint.name)
        except NotFoundError:
            body = {"name": endpoint.name, "description": endpoint.description,
                    "tags": endpoint.tags}
            created = _endpoint(self._http.json("POST", self._url(), json=body))
            if not endpoint.default_deployment:
                return created
        body = {"description": endpoint.description, "tags": endpoint.tags}
        if endpoint.default_deployment:
            body["default_deployment"] = endpoint.default_deployment
        return _endpoint(self._http.json("PATCH", self._url(endpoint.name), json=body))

    def get(self, name: str) -> BatchEndpoint:
        return _endpoint(self._http.json("GET", self._url(name)))

    def list(self) -> builtins.list[BatchEndpoint]:
        return [_endpoint(d) for d in self._http.json("GET", self._url())]

    def begin_delete(self, name: str) -> Poller[None]:
        self._http.request("DELETE", self._url(name))
        return Poller(lambda _timeout: None)

    def invoke(self, endpoint_name: str, *, input: str | Path,  # noqa: A002 - azure-ai-ml's name
               input_type: str | None = None, deployment_name: str | None = None,
               mini_batch_size: int | None = None, output_path: str | None = None,
               experiment_name: str | None = None,
               show_progress: bool | None = None) -> Job:
        """Start a batch scoring job. ``input`` is a local file or folder (uploaded), a data
        asset reference (``azureml:name:version``) or a datastore URI. Returns the Queued job;
        ``client.jobs.stream(job.name)`` follows it."""
        path = str(input)
        kind = input_type
        if not path.startswith("azureml:") and not is_uri(path):
            local = Path(path)
            if not local.exists():
                raise InvalidInputError(f"batch input {local} does not exist")
            kind = kind or ("uri_file" if local.is_file() else "uri_folder")
            path = upload(self._http, "data", local, "batch input", show_progress)
        body = {"input": path, "input_type": kind or "uri_folder",
                "deployment_name": deployment_name, "mini_batch_size": mini_batch_size,
                "output_path": output_path, "experiment_name": experiment_name}
        return job_with_url(self._http, self._http.json(
            "POST", self._url(endpoint_name, "/jobs"), json=body))

    def list_jobs(self, endpoint_name: str,
                  deployment_name: str | None = None) -> builtins.list[Job]:
        params = {"deployment_name": deployment_name} if deployment_name else {}
        return [job_with_url(self._http, d) for d in self._http.json(
            "GET", self._url(endpoint_name, "/jobs"), params=params)]


class BatchDeploymentOperations:
    def __init__(self, http: Http, models: ModelOperations) -> None:
        self._http = http
        self._models = models

    def _url(self, endpoint: str, name: str = "") -> str:
        return self._http.ws(f"/batch-endpoints/{quote(endpoint, safe='')}/deployments"
                             + (f"/{quote(name, safe='')}" if name else ""))

    def begin_create_or_update(self, deployment: BatchDeployment, *,
                               set_default: bool = False,
                               show_progress: bool | None = None) -> Poller[BatchDeployment]:
        done = self.create_or_update(deployment, set_default=set_default,
                                     show_progress=show_progress)
        return Poller(lambda _timeout: done)

    def create_or_update(self, deployment: BatchDeployment, *, set_default: bool = False,
                         show_progress: bool | None = None) -> BatchDeployment:
        d = deployment
        body = {**deployment_assets(self._http, self._models, d.model, d.code_configuration,
                                    d.environment, show_progress),
                "compute": d.compute, "instance_count": d.instance_count,
                "settings": asdict(d.settings), "description": d.description, "tags": d.tags}
        return BatchDeployment.from_dict(self._http.json(
            "PUT", self._url(d.endpoint_name, d.name),
            params={"set_default": str(set_default).lower()}, json=body))

    def get(self, name: str, endpoint_name: str) -> BatchDeployment:
        return BatchDeployment.from_dict(self._http.json("GET", self._url(endpoint_name, name)))

    def list(self, endpoint_name: str) -> builtins.list[BatchDeployment]:
        return [BatchDeployment.from_dict(d) for d in
                self._http.json("GET", self._url(endpoint_name))]

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[None]:
        self._http.request("DELETE", self._url(endpoint_name, name))
        return Poller(lambda _timeout: None)
