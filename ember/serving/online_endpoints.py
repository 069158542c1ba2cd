"""Online endpoints: keys, traffic and mirror splits, metrics. Deployments are in
``online_deployments.py``; the processes in ``supervisor.py``."""

from __future__ import annotations

import builtins
import secrets
import time
from collections.abc import Callable
from typing import Any

from ember.entities.online_endpoints import AUTH_MODES, EndpointKeys, OnlineEndpoint
from ember.entities.names import check_name
from ember.errors import AlreadyExistsError, InvalidInputError, UnsupportedError
from ember.serving.supervisor import EndpointView, Supervisor
from ember.store.online_endpoints import OnlineEndpointStore

MAX_MIRROR_PERCENT = 50
# (workspace, name) -> what else holds that endpoint name ("serverless endpoint 'x'"), or None
NameCheck = Callable[[str, str], str | None]


def new_key() -> str:
    return secrets.token_urlsafe(32)


class OnlineEndpointService:
    def __init__(self, store: OnlineEndpointStore, supervisor: Supervisor) -> None:
        self.store = store
        self.supervisor = supervisor
        self._name_checks: list[NameCheck] = []
        # told of each deployment an endpoint's deletion removes (its token is revoked)
        self._removed: list[Callable[[str, str, str], None]] = []

    def on_deployment_removed(self, hook: Callable[[str, str, str], None]) -> None:
        """``hook(workspace, endpoint, deployment)`` runs for each deployment removed with its
        endpoint (``OnlineDeploymentService`` revokes the deployment's token)."""
        self._removed.append(hook)

    def add_name_check(self, check: NameCheck) -> None:
        """Another kind of endpoint served by the same router (serverless endpoints) shares
        the ``/endpoints/<workspace>/<name>/`` namespace: ``check`` says whether it holds a
        name, and create refuses that name."""
        self._name_checks.append(check)

    def exists(self, workspace: str, name: str) -> bool:
        return any(ep.name == name for _, ep in self.store.list_endpoints(workspace))

    def _shown(self, workspace: str, ep: OnlineEndpoint) -> OnlineEndpoint:
        ep.scoring_uri = self.supervisor.scoring_uri(workspace, ep.name)
        return ep

    def create(self, workspace: str, ep: OnlineEndpoint) -> OnlineEndpoint:
        check_name("online endpoint", ep.name)
        if ep.auth_mode not in AUTH_MODES:
            raise InvalidInputError(f"online endpoint {ep.name!r}: auth_mode {ep.auth_mode!r} "
                                    f"is not one of {', '.join(AUTH_MODES)}")
        if ep.auth_mode != "key":
            raise UnsupportedError(
                f"online endpoint {ep.name!r}: auth_mode {ep.auth_mode} needs Azure-issued "
                "tokens; Ember endpoints authenticate with keys (auth_mode: key)")
        if any(ep.traffic.values()) or any(ep.mirror_traffic.values()):
            raise InvalidInputError(
                f"online endpoint {ep.name!r}: traffic cannot be set when the endpoint is "
                "created (it has no deployments yet); create a deployment, then "
                "`ember online-endpoint update --traffic`")
        for check in self._name_checks:
            holder = check(workspace, ep.name)
            if holder:
                raise AlreadyExistsError(
                    f"online endpoint {ep.name!r}: the name is taken by {holder} in workspace "
                    f"{workspace!r} (both are served under /endpoints/{workspace}/<name>); "
                    "choose another name")
        ep.traffic, ep.mirror_traffic = {}, {}
        ep.creation_time = time.time()
        self.store.create_endpoint(workspace, ep, EndpointKeys(new_key(), new_key()))
        self.supervisor.push()
        return self._shown(workspace, ep)

    def get(self, workspace: str, name: str) -> OnlineEndpoint:
        return self._shown(workspace, self.store.get_endpoint(workspace, name))

    def list(self, workspace: str) -> list[OnlineEndpoint]:
        return [self._shown(workspace, ep) for _, ep in self.store.list_endpoints(workspace)]

    def update(self, workspace: str, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None, traffic: dict[str, int] | None = None,
               mirror_traffic: dict[str, int] | None = None) -> OnlineEndpoint:
        ep = self.store.get_endpoint(workspace, name)
        deployments = {d.name for _, d in self.store.list_deployments(workspace, name)}
        if description is not None:
            ep.description = description
        if tags is not None:
            ep.tags = tags
        if traffic is not None:
            ep.traffic = check_split(name, "traffic", traffic, deployments, total=True)
        if mirror_traffic is not None:
            ep.mirror_traffic = check_split(name, "mirror_traffic", mirror_traffic,
                                            deployments, total=False)
        both = {d for d, p in ep.mirror_traffic.items() if p and ep.traffic.get(d)}
        if both:
            raise InvalidInputError(
                f"online endpoint {name!r}: deployment {sorted(both)[0]!r} cannot receive both "
                "live and mirrored traffic; mirror to a deployment with 0% live traffic")
        self.store.update_endpoint(workspace, ep)
        self.supervisor.push()
        return self._shown(workspace, ep)

    def delete(self, workspace: str, name: str) -> None:
        self.store.get_endpoint(workspace, name)
        removed = [d.name for _, d in self.store.list_deployments(workspace, name)]
        for deployment in removed:
            self.supervisor.remove((workspace, name, deployment))
        self.store.delete_endpoint(workspace, name)
        for deployment in removed:
            for hook in self._removed:
                hook(workspace, name, deployment)
        self.supervisor.push()

    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        return self.store.get_keys(workspace, name)

    def regenerate_keys(self, workspace: str, name: str, key_type: str = "primary") -> None:
        keys = self.store.get_keys(workspace, name)
        if key_type == "primary":
            keys.primary_key = new_key()
        elif key_type == "secondary":
            keys.secondary_key = new_key()
        else:
            raise InvalidInputError(f"key_type {key_type!r} is not 'primary' or 'secondary'")
        self.store.set_keys(workspace, name, keys)
        self.supervisor.push()

    def metrics(self, workspace: str, name: str) -> dict[str, Any]:
        """Per deployment: request and error counts, latency p50/p95/p99 (from the router)."""
        self.store.get_endpoint(workspace, name)
        found = self.supervisor.metrics().get(f"{workspace}/{name}", {})
        return dict(found)

    def usage(self, workspace: str, name: str) -> dict[str, dict[str, int]]:
        """Requests, prompt and completion tokens per key (``primary``, ``secondary``) since
        the router started, as metered on the language-model paths ({} before any)."""
        self.store.get_endpoint(workspace, name)
        found = self.supervisor.usage().get(f"{workspace}/{name}") or {}
        return {str(key): {k: int(v) for k, v in counts.items()}
                for key, counts in found.items() if isinstance(counts, dict)}

    def usage_history(self, workspace: str, name: str) -> builtins.list[dict[str, int]]:
        """Requests and tokens per minute (all keys) over the last day, oldest first."""
        self.store.get_endpoint(workspace, name)
        return history_of(self.supervisor.usage_history().get(f"{workspace}/{name}"))

    def prometheus(self) -> str:
        return self.supervisor.prometheus()

    def views(self) -> builtins.list[EndpointView]:
        """Every endpoint of every workspace, as the router needs it."""
        deployments: dict[tuple[str, str], list[str]] = {}
        for ws, d in self.store.list_deployments():
            deployments.setdefault((ws, d.endpoint_name), []).append(d.name)
        all_keys = self.store.list_keys()
        out = []
        for ws, ep in self.store.list_endpoints():
            keys = all_keys[(ws, ep.name)]
            out.append(EndpointView(ws, ep.name, (keys.primary_key, keys.secondary_key),
                                    dict(ep.traffic), dict(ep.mirror_traffic),
                                    deployments.get((ws, ep.name), [])))
        return out


def check_split(endpoint: str, what: str, split: dict[str, int], deployments: set[str], *,
                total: bool) -> dict[str, int]:
    """Validate a traffic or mirror split: known deployments, integer percents, and a total of
    0 or 100 (traffic) or at most 50 per deployment (mirror)."""
    out: dict[str, int] = {}
    for name, pct in split.items():
        if name not in deployments:
            known = ", ".join(sorted(deployments)) or "none yet"
            raise InvalidInputError(f"online endpoint {endpoint!r}: {what} names deployment "
                                    f"{name!r}, which does not exist (deployments: {known})")
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise InvalidInputError(f"online endpoint {endpoint!r}: {what} for {name!r} must "
                                    f"be an integer percent from 0 to 100, not {pct!r}")
        if not total and pct > MAX_MIRROR_PERCENT:
            raise InvalidInputError(f"online endpoint {endpoint!r}: mirror_traffic for "
                                    f"{name!r} is {pct}%; at most {MAX_MIRROR_PERCENT}% may "
                                    "be mirrored")
        out[name] = pct
    if total and sum(out.values()) not in (0, 100):
        raise InvalidInputError(f"online endpoint {endpoint!r}: traffic adds up to "
                                f"{sum(out.values())}%; it must add up to 100 (or 0)")
    return out


def history_of(found: Any) -> list[dict[str, int]]:
    """The router's per-minute usage of one endpoint, as ints (tolerant of its absence)."""
    if not isinstance(found, list):
        return []
    fields = ("minute", "requests", "prompt_tokens", "completion_tokens")
    return [{f: int(m.get(f) or 0) for f in fields} for m in found if isinstance(m, dict)]
