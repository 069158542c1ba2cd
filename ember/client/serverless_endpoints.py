"""``client.serverless_endpoints``: create, get, list, delete, keys (azure-ai-ml shape)."""

from __future__ import annotations

import builtins
from dataclasses import asdict
from typing import Any
from urllib.parse import quote

from ember.client.http import Http
from ember.client.online_endpoints import Poller, wait_until
from ember.entities.online_endpoints import EndpointKeys, ProvisioningState
from ember.entities.serverless_endpoints import RateLimits, ServerlessEndpoint
from ember.errors import DeploymentFailedError

BUSY = (ProvisioningState.CREATING, ProvisioningState.UPDATING)


def endpoint_from_json(d: dict[str, Any]) -> ServerlessEndpoint:
    return ServerlessEndpoint.from_dict(d)


def keys_from_json(d: dict[str, Any]) -> EndpointKeys:
    return EndpointKeys(d["primary_key"], d["secondary_key"])


class ServerlessEndpointOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str = "", tail: str = "") -> str:
        base = "/serverless-endpoints" + (f"/{quote(name, safe='')}" if name else "")
        return self._http.ws(base + tail)

    def begin_create_or_update(self, endpoint: ServerlessEndpoint
                               ) -> Poller[ServerlessEndpoint]:
        """Create the endpoint (or update its description, tags, properties and rate limits);
        ``.result()`` waits until it is Succeeded (its model loaded and answering), or raises
        DeploymentFailedError with the reason."""
        body = {"model_id": endpoint.model_id, "auth_mode": endpoint.auth_mode,
                "description": endpoint.description, "tags": endpoint.tags,
                "properties": endpoint.properties,
                "rate_limits": asdict(endpoint.rate_limits)}
        started = endpoint_from_json(self._http.json("PUT", self._url(endpoint.name),
                                                     json=body))

        def wait(timeout: float | None) -> ServerlessEndpoint:
            def check() -> ServerlessEndpoint | None:
                now = self.get(started.name)
                if now.provisioning_state in BUSY:
                    return None
                if now.provisioning_state == ProvisioningState.FAILED:
                    raise DeploymentFailedError(
                        f"serverless endpoint {now.name!r} failed: {now.error}")
                return now
            return wait_until(check, timeout, f"serverless endpoint {started.name!r}")
        return Poller(wait)

    def update(self, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None, properties: dict[str, str] | None = None,
               rate_limits: RateLimits | None = None) -> ServerlessEndpoint:
        body: dict[str, Any] = {"description": description, "tags": tags,
                                "properties": properties,
                                "rate_limits": asdict(rate_limits) if rate_limits else None}
        return endpoint_from_json(self._http.json(
            "PATCH", self._url(name), json={k: v for k, v in body.items() if v is not None}))

    def get(self, name: str) -> ServerlessEndpoint:
        """The endpoint, with ``usage`` (requests, prompt and completion tokens per key)."""
        return endpoint_from_json(self._http.json("GET", self._url(name)))

    def list(self) -> builtins.list[ServerlessEndpoint]:
        return [endpoint_from_json(d) for d in self._http.json("GET", self._url())]

    def begin_delete(self, name: str) -> Poller[None]:
        self._http.request("DELETE", self._url(name))
        return Poller(lambda _timeout: None)

    def get_usage_history(self, name: str) -> builtins.list[dict[str, int]]:
        """Requests and tokens per minute (all keys) over the last day, oldest first:
        ``[{"minute": <epoch seconds>, "requests", "prompt_tokens", "completion_tokens"}]``
        (the totals per key are the endpoint's ``usage``)."""
        return list(self._http.json("GET", self._url(name, "/usage/history")))

    def get_keys(self, name: str) -> EndpointKeys:
        return keys_from_json(self._http.json("POST", self._url(name, "/listKeys")))

    def begin_regenerate_keys(self, name: str, *, key_type: str = "primary"
                              ) -> Poller[EndpointKeys]:
        """Replace the primary or secondary key; ``.result()`` gives both keys."""
        keys = keys_from_json(self._http.json("POST", self._url(name, "/regenerateKeys"),
                                              json={"key_type": key_type}))
        return Poller(lambda _timeout: keys)
