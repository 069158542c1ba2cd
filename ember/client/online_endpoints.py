"""``client.online_endpoints``: create, traffic, keys, invoke, metrics (azure-ai-ml shape)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx

from ember.client.http import Http
from ember.entities.codec import from_plain
from ember.entities.online_endpoints import EndpointKeys, OnlineEndpoint
from ember.errors import EndpointRequestError, InvalidInputError, NotFoundError

T = TypeVar("T")
def endpoint_from_json(d: dict[str, Any]) -> OnlineEndpoint:
    return from_plain(OnlineEndpoint, d)


@dataclass
class Poller(Generic[T]):
    """What ``begin_*`` returns, as in azure-ai-ml: ``.result()`` waits for the outcome."""

    _wait: Callable[[float | None], T]

    def result(self, timeout: float | None = None) -> T:
        return self._wait(timeout)


class OnlineEndpointOperations:
    def __init__(self, http: Http) -> None:
        self._http = http

    def _url(self, name: str = "", tail: str = "") -> str:
        base = "/online-endpoints" + (f"/{quote(name, safe='')}" if name else "")
        return self._http.ws(base + tail)

    def begin_create_or_update(self, endpoint: OnlineEndpoint) -> Poller[OnlineEndpoint]:
        """Create the endpoint, or update its description, tags, traffic and mirror traffic."""
        done = self.create_or_update(endpoint)
        return Poller(lambda _timeout: done)

    def create_or_update(self, endpoint: OnlineEndpoint) -> OnlineEndpoint:
        try:
            self.get(endpoint.name)
        except NotFoundError:
            body = {"name": endpoint.name, "description": endpoint.description,
                    "tags": endpoint.tags, "auth_mode": endpoint.auth_mode}
            created = endpoint_from_json(self._http.json("POST", self._url(), json=body))
            if not (any(endpoint.traffic.values()) or any(endpoint.mirror_traffic.values())):
                return created
        return self.update(endpoint.name, description=endpoint.description, tags=endpoint.tags,
                           traffic=endpoint.traffic, mirror_traffic=endpoint.mirror_traffic)

    def update(self, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None, traffic: dict[str, int] | None = None,
               mirror_traffic: dict[str, int] | None = None) -> OnlineEndpoint:
        body = {"description": description, "tags": tags, "traffic": traffic,
                "mirror_traffic": mirror_traffic}
        return endpoint_from_json(self._http.json(
            "PATCH", self._url(name), json={k: v for k, v in body.items() if v is not None}))

    def get(self, name: str) -> OnlineEndpoint:
        return endpoint_from_json(self._http.json("GET", self._url(name)))

    def list(self) -> builtins.list[OnlineEndpoint]:
        return [endpoint_from_json(d) for d in self._http.json("GET", self._url())]

    def begin_delete(self, name: str) -> Poller[None]:
        self._http.request("DELETE", self._url(name))
        return Poller(lambda _timeout: None)

    def get_keys(self, name: str) -> EndpointKeys:
        d = self._http.json("GET", self._url(name, "/keys"))
        return EndpointKeys(d["primary_key"], d["secondary_key"])

    def regenerate_keys(self, name: str, key_type: str = "primary") -> None:
        self._http.request("POST", self._url(name, "/regenerate-keys"),
                           json={"key_type": key_type})

    def get_metrics(self, name: str) -> dict[str, Any]:
        """Per deployment: request_count, error_count, latency_ms_p50/p95/p99, status_counts."""
        return dict(self._http.json("GET", self._url(name, "/metrics")))

    def get_usage(self, name: str) -> dict[str, dict[str, int]]:
        """A language-model endpoint's requests, prompt and completion tokens per key
        (``primary``, ``secondary``) since the endpoint router started."""
        return dict(self._http.json("GET", self._url(name, "/usage")))

    def get_usage_history(self, name: str) -> builtins.list[dict[str, int]]:
        """Requests and tokens per minute (all keys) over the last day, oldest first:
        ``[{"minute": <epoch seconds>, "requests", "prompt_tokens", "completion_tokens"}]``."""
        return list(self._http.json("GET", self._url(name, "/usage/history")))

    def invoke(self, endpoint_name: str, request_file: str | Path | None = None, *,
               deployment_name: str | None = None, body: bytes | str | None = None,
               timeout: float = 200.0) -> str:
        """POST a request to the endpoint's scoring URI with its primary key; returns the
        response text. Errors come back as the scoring service's error."""
        if request_file is not None:
            path = Path(request_file)
            if not path.is_file():
                raise InvalidInputError(f"request file {path} does not exist")
            content = path.read_bytes()
        elif body is not None:
            content = body.encode() if isinstance(body, str) else body
        else:
            raise InvalidInputError("give request_file or body")
        ep = self.get(endpoint_name)
        key = self.get_keys(endpoint_name).primary_key
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        if deployment_name:
            headers["azureml-model-deployment"] = deployment_name
        resp = httpx.post(ep.scoring_uri, content=content, headers=headers, timeout=timeout)
        if resp.status_code >= 400:
            code, message = "", resp.text[:2000]
            try:
                err: Any = resp.json()
            except ValueError:
                err = None
            if isinstance(err, dict):
                code, message = str(err.get("error_code", "")), str(err.get("message", message))
            raise EndpointRequestError(
                f"endpoint {endpoint_name!r} answered {resp.status_code}"
                f"{f' {code}' if code else ''}: {message}", status=resp.status_code,
                endpoint_code=code)
        return resp.text


def wait_until(check: Callable[[], T | None], timeout: float | None, what: str) -> T:
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.1
    while True:
        found = check()
        if found is not None:
            return found
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not finish within {timeout} s")
        time.sleep(delay)
        delay = min(delay * 1.5, 1.0)
