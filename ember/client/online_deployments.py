"""``client.online_deployments``: deployments of online endpoints (azure-ai-ml shape)."""

from __future__ import annotations

import builtins
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from ember.client._deployment_assets import deployment_assets
from ember.client.http import Http
from ember.client.models import ModelOperations
from ember.client.online_endpoints import Poller, wait_until
from ember.entities.online_endpoints import OnlineDeployment, ProvisioningState
from ember.errors import DeploymentFailedError, InvalidInputError

BUSY = (ProvisioningState.CREATING, ProvisioningState.UPDATING)


def deployment_from_json(d: dict[str, Any]) -> OnlineDeployment:
    return OnlineDeployment.from_dict(d)


class OnlineDeploymentOperations:
    def __init__(self, http: Http, models: ModelOperations) -> None:
        self._http = http
        self._models = models

    def _url(self, endpoint: str, name: str = "", tail: str = "") -> str:
        base = f"/online-endpoints/{quote(endpoint, safe='')}/deployments"
        return self._http.ws(base + (f"/{quote(name, safe='')}" if name else "") + tail)

    def begin_create_or_update(self, deployment: OnlineDeployment, *,
                               all_traffic: bool = False,
                               show_progress: bool | None = None) -> Poller[OnlineDeployment]:
        """Upload the code folder and register an inline model, then start the rollout;
        ``.result()`` waits until the deployment is Succeeded (or raises
        DeploymentFailedError with the worker's log tail)."""
        d = deployment
        if not d.endpoint_name:
            raise InvalidInputError(f"online deployment {d.name!r} needs an endpoint_name")
        body: dict[str, Any] = {
            **deployment_assets(self._http, self._models, d.model, d.code_configuration,
                                d.environment, show_progress),
            "environment_variables": d.environment_variables,
            "instance_type": d.instance_type, "instance_count": d.instance_count,
            "request_settings": asdict(d.request_settings),
            "liveness_probe": asdict(d.liveness_probe),
            "readiness_probe": asdict(d.readiness_probe),
            "data_collector": asdict(d.data_collector) if d.data_collector else None,
            "worker_memory_limit_mb": d.worker_memory_limit_mb, "runtime": d.runtime,
            "compute": d.compute,
            "description": d.description, "tags": d.tags}
        started = deployment_from_json(self._http.json(
            "PUT", self._url(d.endpoint_name, d.name),
            params={"all_traffic": str(all_traffic).lower()}, json=body))

        def wait(timeout: float | None) -> OnlineDeployment:
            def check() -> OnlineDeployment | None:
                now = self.get(started.name, started.endpoint_name)
                if now.generation != started.generation or now.provisioning_state in BUSY:
                    return None
                if now.provisioning_state == ProvisioningState.FAILED:
                    raise DeploymentFailedError(
                        f"online deployment {now.name!r} failed: {now.error}")
                return now
            return wait_until(check, timeout, f"online deployment {started.name!r}")
        return Poller(wait)

    def get(self, name: str, endpoint_name: str) -> OnlineDeployment:
        return deployment_from_json(self._http.json("GET", self._url(endpoint_name, name)))

    def instances(self, name: str, endpoint_name: str) -> builtins.list[dict[str, Any]]:
        """The deployment's workers: index, pid, address, state, restarts."""
        d = self._http.json("GET", self._url(endpoint_name, name))
        return list(d.get("instances") or [])

    def list(self, endpoint_name: str) -> builtins.list[OnlineDeployment]:
        return [deployment_from_json(d) for d in self._http.json("GET",
                                                                 self._url(endpoint_name))]

    def begin_delete(self, name: str, endpoint_name: str) -> Poller[None]:
        self._http.request("DELETE", self._url(endpoint_name, name))
        return Poller(lambda _timeout: None)

    def get_logs(self, name: str, endpoint_name: str, lines: int = 100) -> str:
        return self._http.request("GET", self._url(endpoint_name, name, "/logs"),
                                  params={"lines": lines}).text
