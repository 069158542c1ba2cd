"""Serverless endpoints (Models-as-a-Service): one language model behind keys, served by the
same supervisor and router as online endpoints.

An endpoint ``<name>`` is, to the supervisor, a deployment ``(workspace, name, "default")`` of
one language-model worker (``llm_plan.py``) with all the traffic, and to the router an endpoint
``<workspace>/<name>`` whose route carries Azure's rate limits. Its model is resolved once, at
create (a catalog ``model_id`` without a version means the latest one then, as on Azure), and
recorded with its version in ``model``. As on Azure a workspace has at most one serverless
endpoint per model, and an endpoint's name is also its URL: it cannot be the name of an online
endpoint of the workspace (both live under the router's ``/endpoints/<workspace>/<name>/``).
"""

from __future__ import annotations

import builtins
import logging
import re
import threading
import time
from typing import Any

from ember.entities.names import check_name
from ember.entities.online_endpoints import (
    LLM_REQUEST_DEFAULTS,
    EndpointKeys,
    ProbeSettings,
    ProvisioningState,
)
from ember.entities.serverless_endpoints import AUTH_MODES, RateLimits, ServerlessEndpoint
from ember.errors import (
    AlreadyExistsError,
    ConflictError,
    EmberError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ember.serving.llm_plan import LanguageModel, LanguageModels, choose_runtime
from ember.serving.online_endpoints import OnlineEndpointService, history_of, new_key
from ember.serving.supervisor import EndpointView, Key, Supervisor
from ember.specs.references import parse_asset_reference
from ember.specs.serverless_endpoints import AAD_REFUSED
from ember.store.serverless_endpoints import ServerlessEndpointStore

log = logging.getLogger("ember.serving")
DEPLOYMENT = "default"
REVISION = 1        # the workers never change: an endpoint's model is fixed at create
_REGISTRY_MODEL = re.compile(
    r"^azureml://registries/[^/]+/models/[^/]+(/versions/[^/]+|/labels/latest)?/?$")
_LOCATION_MODEL = re.compile(
    r"^azureml://locations/[^/]+/workspaces/[^/]+/models/(?P<name>[^/]+)"
    r"/versions/(?P<version>[^/]+)/?$")
MODEL_FORMS = ("azureml://registries/<registry>/models/<name> (the catalog; latest version), "
               "azureml:<name>:<version> or azureml:<name>@latest (a workspace model), or "
               "azureml://locations/<location>/workspaces/<workspace>/models/<name>/versions/<v>")


class ServerlessEndpointService:
    def __init__(self, store: ServerlessEndpointStore, online_endpoints: OnlineEndpointService,
                 supervisor: Supervisor, language_models: LanguageModels) -> None:
        self.store = store
        self.online_endpoints = online_endpoints
        self.supervisor = supervisor
        self.language_models = language_models
        self._threads: dict[Key, threading.Thread] = {}
        self._guard = threading.Lock()
        online_endpoints.add_name_check(self._holder)

    def _holder(self, workspace: str, name: str) -> str | None:
        """What holds ``name`` among this workspace's serverless endpoints (a name check of
        the online endpoints)."""
        try:
            self.store.get_endpoint(workspace, name)
        except NotFoundError:
            return None
        return f"serverless endpoint {name!r}"

    # --- create / update / delete -------------------------------------------------------

    def create(self, workspace: str, ep: ServerlessEndpoint) -> ServerlessEndpoint:
        """Check everything that can fail fast (name, auth mode, model, runtime, limits),
        record the endpoint (Creating) with new keys, and start its worker in the background.
        Raises InvalidInputError, UnsupportedError, NotFoundError (unknown model) or
        AlreadyExistsError (name taken, or the model already has an endpoint here)."""
        what = f"serverless endpoint {ep.name!r}"
        check_name("serverless endpoint", ep.name)
        check_auth_mode(what, ep.auth_mode)
        check_limits(what, ep.rate_limits)
        if self.online_endpoints.exists(workspace, ep.name):
            raise AlreadyExistsError(
                f"{what}: the name is taken by online endpoint {ep.name!r} in workspace "
                f"{workspace!r} (both are served under /endpoints/{workspace}/<name>); choose "
                "another name")
        self._holder_check(workspace, ep.name)
        lm = self._language_model(workspace, what, ep.model_id)
        choose_runtime(what, lm, None)
        for _, other in self.store.list_endpoints(workspace):
            if model_identity(other.model) == model_identity(lm.reference):
                raise AlreadyExistsError(
                    f"{what}: model {unversioned(lm.reference)} already has serverless "
                    f"endpoint {other.name!r} in workspace {workspace!r}; a workspace has one "
                    "serverless endpoint per model (as on Azure): use that one, or delete it "
                    "first")
        ep.model = lm.reference
        ep.provisioning_state, ep.error = ProvisioningState.CREATING, ""
        ep.creation_time = time.time()
        ep.scoring_uri, ep.openai_base_url, ep.usage = "", "", {}
        self.store.create_endpoint(workspace, ep, EndpointKeys(new_key(), new_key()))
        self.supervisor.push()
        self._start_rollout(workspace, ep)
        return self._shown(workspace, ep)

    def create_or_update(self, workspace: str, ep: ServerlessEndpoint) -> ServerlessEndpoint:
        """Create the endpoint, or (when it exists) update what may change (see update)."""
        try:
            self.store.get_endpoint(workspace, ep.name)
        except NotFoundError:
            return self.create(workspace, ep)
        return self.update(workspace, ep.name, description=ep.description, tags=ep.tags,
                           properties=ep.properties, rate_limits=ep.rate_limits,
                           model_id=ep.model_id, auth_mode=ep.auth_mode)

    def _holder_check(self, workspace: str, name: str) -> None:
        if self._holder(workspace, name):
            raise AlreadyExistsError(f"serverless endpoint {name!r} already exists in "
                                     f"workspace {workspace!r}")

    def _language_model(self, workspace: str, what: str, model_id: str) -> LanguageModel:
        reference = workspace_reference(what, model_id)
        try:
            lm = self.language_models.find(workspace, reference)
        except NotFoundError as exc:
            raise NotFoundError(f"{what}: model_id {model_id!r}: {exc.message}") from exc
        if lm is None:
            raise InvalidInputError(
                f"{what}: model_id {model_id!r} is not a language model (a GGUF file or a "
                "Hugging Face model folder); a serverless endpoint serves a language model "
                "(e.g. azureml://registries/azureml/models/SmolLM2-135M-Instruct); deploy "
                "other models to an online endpoint")
        return lm

    def update(self, workspace: str, name: str, *, description: str | None = None,
               tags: dict[str, str] | None = None, properties: dict[str, str] | None = None,
               rate_limits: RateLimits | None = None, model_id: str | None = None,
               auth_mode: str | None = None) -> ServerlessEndpoint:
        """Change the description, tags, properties or rate limits. ``model_id`` and
        ``auth_mode`` may be given (a whole spec sent again) but not changed."""
        ep = self.store.get_endpoint(workspace, name)
        what = f"serverless endpoint {name!r}"
        if auth_mode is not None:
            check_auth_mode(what, auth_mode)
        if model_id is not None and model_id != ep.model_id:
            raise InvalidInputError(
                f"{what}: model_id cannot change (it serves {ep.model_id}); create another "
                "endpoint for another model")
        if description is not None:
            ep.description = description
        if tags is not None:
            ep.tags = dict(tags)
        if properties is not None:
            ep.properties = dict(properties)
        if rate_limits is not None:
            check_limits(what, rate_limits)
            ep.rate_limits = rate_limits
        self.store.update_endpoint(workspace, ep)
        self.supervisor.push()
        return self._shown(workspace, ep)

    def delete(self, workspace: str, name: str) -> None:
        """Stop the endpoint's worker and forget it. Raises NotFoundError."""
        self.store.get_endpoint(workspace, name)
        self.store.delete_endpoint(workspace, name)
        self.supervisor.remove((workspace, name, DEPLOYMENT))

    # --- reads ----------------------------------------------------------------------------

    def get(self, workspace: str, name: str) -> ServerlessEndpoint:
        """The endpoint, with the router's usage of it per key."""
        ep = self._shown(workspace, self.store.get_endpoint(workspace, name))
        ep.usage = usage_of(self.supervisor.usage().get(f"{workspace}/{name}"))
        return ep

    def list(self, workspace: str) -> builtins.list[ServerlessEndpoint]:
        return [self._shown(workspace, ep) for _, ep in self.store.list_endpoints(workspace)]

    def get_keys(self, workspace: str, name: str) -> EndpointKeys:
        return self.store.get_keys(workspace, name)

    def usage_history(self, workspace: str, name: str) -> builtins.list[dict[str, int]]:
        """Requests and tokens per minute (all keys) over the last day, oldest first."""
        self.store.get_endpoint(workspace, name)
        return history_of(self.supervisor.usage_history().get(f"{workspace}/{name}"))

    def regenerate_keys(self, workspace: str, name: str,
                        key_type: str = "primary") -> EndpointKeys:
        """Replace one key (``primary`` or ``secondary``, any case); the other keeps working.
        Returns both keys."""
        keys = self.store.get_keys(workspace, name)
        kind = key_type.lower()
        if kind == "primary":
            keys.primary_key = new_key()
        elif kind == "secondary":
            keys.secondary_key = new_key()
        else:
            raise InvalidInputError(f"key_type {key_type!r} is not 'primary' or 'secondary'")
        self.store.set_keys(workspace, name, keys)
        self.supervisor.push()
        return keys

    def _shown(self, workspace: str, ep: ServerlessEndpoint) -> ServerlessEndpoint:
        ep.scoring_uri = f"{self.supervisor.router_url}/endpoints/{workspace}/{ep.name}"
        ep.openai_base_url = f"{ep.scoring_uri}/v1"
        return ep

    def views(self) -> builtins.list[EndpointView]:
        """Every serverless endpoint of every workspace, as the router needs it."""
        all_keys = self.store.list_keys()
        out = []
        for ws, ep in self.store.list_endpoints():
            keys = all_keys[(ws, ep.name)]
            out.append(EndpointView(
                ws, ep.name, (keys.primary_key, keys.secondary_key), {DEPLOYMENT: 100}, {},
                [DEPLOYMENT], limits={"tokens_per_minute": ep.rate_limits.tokens_per_minute,
                                      "requests_per_minute": ep.rate_limits.requests_per_minute}))
        return out

    # --- the worker -----------------------------------------------------------------------

    def _start_rollout(self, workspace: str, ep: ServerlessEndpoint) -> None:
        key: Key = (workspace, ep.name, DEPLOYMENT)
        with self._guard:
            running = self._threads.get(key)
            if running is not None and running.is_alive():
                raise ConflictError(f"serverless endpoint {ep.name!r} is being provisioned")
            thread = threading.Thread(target=self._rollout, args=(workspace, ep),
                                      name=f"ember-serverless-{ep.name}", daemon=True)
            self._threads[key] = thread
        thread.start()

    def _rollout(self, workspace: str, ep: ServerlessEndpoint) -> None:
        key: Key = (workspace, ep.name, DEPLOYMENT)
        what = f"serverless endpoint {ep.name!r}"
        try:
            lm = self.language_models.find(workspace, ep.model)
            if lm is None:
                raise InvalidInputError(f"{what}: model {ep.model} is no longer a language "
                                        "model")
            defaults = LLM_REQUEST_DEFAULTS
            plan = self.language_models.plan(
                workspace, ep.name, DEPLOYMENT, lm, runtime=choose_runtime(what, lm, None),
                environment_variables={}, request_timeout_ms=defaults.timeout_ms,
                memory_limit_mb=None, revision=REVISION)
            route: dict[str, Any] = {
                "max_concurrent_requests_per_instance": defaults.concurrency,
                "request_timeout_ms": defaults.timeout_ms,
                "max_queue_wait_ms": defaults.queue_wait_ms,
                "collect_request": None, "collect_response": None, "sampling_rate": 0.0}
            self.supervisor.deploy(key, plan, 1, ProbeSettings(), ProbeSettings(), route)
        except Exception as exc:  # noqa: BLE001 - recorded on the endpoint, not lost
            message = exc.message if isinstance(exc, EmberError) else f"{type(exc).__name__}: {exc}"
            log.warning("serverless endpoint %s failed to start: %s", ep.name, message)
            self._set_state(workspace, ep.name, ProvisioningState.FAILED, message)
            return
        if not self._set_state(workspace, ep.name, ProvisioningState.SUCCEEDED, ""):
            self.supervisor.remove(key)   # deleted while its worker was starting

    def _set_state(self, workspace: str, name: str, state: str, error: str) -> bool:
        """Record the outcome; False when the endpoint was deleted meanwhile."""
        try:
            current = self.store.get_endpoint(workspace, name)
            current.provisioning_state, current.error = state, error
            self.store.update_endpoint(workspace, current)
        except NotFoundError:
            return False
        return True

    def recover(self, adopted: dict[Key, int]) -> None:
        """After a server start: an endpoint whose worker the supervisor adopted keeps it;
        every other one that was serving or starting is started again (a Failed one stays
        Failed). Takes each endpoint's key out of ``adopted`` (see
        ``OnlineDeploymentService.recover``)."""
        for workspace, ep in self.store.list_endpoints():
            revision = adopted.pop((workspace, ep.name, DEPLOYMENT), None)
            if revision == REVISION:
                if ep.provisioning_state != ProvisioningState.SUCCEEDED and not ep.error:
                    self._set_state(workspace, ep.name, ProvisioningState.SUCCEEDED, "")
                continue
            if ep.provisioning_state == ProvisioningState.FAILED:
                continue
            self._set_state(workspace, ep.name, ProvisioningState.CREATING, "")
            self._start_rollout(workspace, ep)


def check_auth_mode(what: str, auth_mode: str) -> None:
    if auth_mode == "aad":
        raise UnsupportedError(f"{what}: {AAD_REFUSED}")
    if auth_mode not in AUTH_MODES:
        raise InvalidInputError(f"{what}: auth_mode {auth_mode!r} is not one of "
                                f"{', '.join(AUTH_MODES)} (Ember accepts key)")


def check_limits(what: str, limits: RateLimits) -> None:
    for name in ("tokens_per_minute", "requests_per_minute"):
        value = getattr(limits, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidInputError(f"{what}: rate_limits.{name} must be an integer >= 1, "
                                    f"not {value!r}")


def workspace_reference(what: str, model_id: str) -> str:
    """``model_id`` as a reference the model registry resolves: a catalog reference as given,
    a workspace model as ``azureml:<name>[:<version>]``. Raises InvalidInputError for any other
    form."""
    if not model_id:
        raise InvalidInputError(f"{what}: model_id is required ({MODEL_FORMS})")
    if _REGISTRY_MODEL.match(model_id):
        return model_id.rstrip("/")
    found = _LOCATION_MODEL.match(model_id)
    if found:
        return f"azureml:{found['name']}:{found['version']}"
    try:
        ref = parse_asset_reference(model_id)
    except InvalidInputError:
        ref = None
    if ref is None or ref.registry is not None or ref.kind not in (None, "models"):
        raise InvalidInputError(f"{what}: model_id {model_id!r} is not a model reference; "
                                f"use {MODEL_FORMS}")
    return f"azureml:{ref.name}" + (f":{ref.version}" if ref.version else "")


def unversioned(reference: str) -> str:
    """A versioned model reference without its version."""
    if reference.startswith("azureml://"):
        return re.sub(r"/versions/[^/]+$", "", reference)
    return reference.rsplit(":", 1)[0] if reference.count(":") > 1 else reference


def model_identity(reference: str) -> str:
    """Which model (any version) a versioned reference names: one endpoint per model."""
    return unversioned(reference).lower()


def usage_of(found: Any) -> dict[str, dict[str, int]]:
    """The router's usage entry of one endpoint, as ints per key (tolerant of its absence)."""
    if not isinstance(found, dict):
        return {}
    out: dict[str, dict[str, int]] = {}
    for key, counts in found.items():
        if isinstance(counts, dict):
            out[str(key)] = {str(k): int(v) for k, v in counts.items()
                             if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return out
