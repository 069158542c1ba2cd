"""Online deployments: validation, the worker plan (model folder, code, environment), and
rollouts run in the background (provisioning_state Creating/Updating → Succeeded | Failed).

A language model deployed without a scoring script runs the language-model worker on the
server's Python (``llm_plan.py``); so does a prompt flow folder (``flow_plan.py``); with a
scoring script it is served by the script, as any model is."""

from __future__ import annotations

import builtins
import logging
import shutil
import threading
import time
from pathlib import Path
from typing import Any

from ember.artifacts.store import ArtifactStore
from ember.entities.computes import LOCAL_COMPUTE, Compute, compute_name_of
from ember.entities.data import DataAsset
from ember.entities.online_endpoints import (
    LLM_REQUEST_DEFAULTS,
    REQUEST_DEFAULTS,
    OnlineDeployment,
    ProvisioningState,
)
from ember.entities.names import check_name
from ember.errors import (
    ConflictError,
    EnvironmentBuildError,
    EmberError,
    InvalidInputError,
    NotFoundError,
    UnsupportedError,
)
from ember.engine.environments import BuildLog, EnvironmentBuilder
from ember.services.auth import AuthService
from ember.services.computes import ComputeService
from ember.serving.deployment_assets import DeploymentAssets
from ember.serving.flow_plan import FlowModel, FlowModels
from ember.serving.llm_plan import LanguageModel, LanguageModels, choose_runtime, llm_settings
from ember.serving.model_files import conda_python, materialize, mlflow_environment
from ember.serving.online_endpoints import OnlineEndpointService
from ember.serving.processes import log_tail
from ember.serving.supervisor import Key, Supervisor, WorkerPlan
from ember.services.data import DataService
from ember.services.environments import EnvironmentService
from ember.services.models import ModelService
from ember.services.uploads import UploadService, upload_prefix
from ember.store.online_endpoints import OnlineEndpointStore

log = logging.getLogger("ember.serving")
WORKER_FILE = str(Path(__file__).with_name("worker.py"))
MAX_REQUEST_TIMEOUT_MS = 180_000


class OnlineDeploymentService:
    def __init__(self, store: OnlineEndpointStore, endpoints: OnlineEndpointService,
                 supervisor: Supervisor, models: ModelService,
                 environments: EnvironmentService, builder: EnvironmentBuilder,
                 uploads: UploadService, artifacts: ArtifactStore, data: DataService,
                 home: Path, auth: AuthService | None = None,
                 computes: ComputeService | None = None) -> None:
        self.store = store
        self.endpoints = endpoints
        self.supervisor = supervisor
        self.models = models
        self.builder = builder
        self.artifacts = artifacts
        self.data = data
        self.home = home
        self.computes = computes
        self.assets = DeploymentAssets(models, environments, uploads, artifacts)
        self.language_models = LanguageModels(models, artifacts, home)
        self.flows = FlowModels(models, artifacts, home, auth)
        endpoints.on_deployment_removed(self.flows.revoke)
        self._threads: dict[Key, threading.Thread] = {}
        self._guard = threading.Lock()

    # --- create / update ----------------------------------------------------------------

    def create_or_update(self, workspace: str, d: OnlineDeployment, *,
                         all_traffic: bool = False) -> OnlineDeployment:
        """Validate, record, and start the rollout in the background. Every check that can
        fail fast (names, model, code, environment reference, settings) fails here, before
        anything is written."""
        check_name("online deployment", d.name)
        self.store.get_endpoint(workspace, d.endpoint_name)
        key: Key = (workspace, d.endpoint_name, d.name)
        with self._guard:
            running = self._threads.get(key)
            if running is not None and running.is_alive():
                raise ConflictError(f"online deployment {d.name!r} is being rolled out; wait "
                                    "for it to finish before updating it again")
        self._validate(workspace, d)
        try:
            old: OnlineDeployment | None = self.store.get_deployment(workspace, d.endpoint_name,
                                                                     d.name)
        except NotFoundError:
            old = None
        d.creation_time = old.creation_time if old else time.time()
        d.generation = (old.generation + 1) if old else 1
        d.provisioning_state = ProvisioningState.UPDATING if old else ProvisioningState.CREATING
        d.error = ""
        if old is None:
            self.store.create_deployment(workspace, d)
        else:
            self.store.update_deployment(workspace, d)
        self._start_rollout(workspace, d, all_traffic)
        return d

    def _validate(self, workspace: str, d: OnlineDeployment) -> None:
        what = f"online deployment {d.name!r}"
        if d.instance_count < 1:
            raise InvalidInputError(f"{what}: instance_count must be at least 1")
        limit = d.worker_memory_limit_mb
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            raise InvalidInputError(f"{what}: worker_memory_limit_mb must be an integer >= 1 "
                                    f"(MiB of resident memory per worker), not {limit!r}")
        rs = d.request_settings.filled(REQUEST_DEFAULTS)   # the given ones are checked here
        if not 1 <= rs.timeout_ms <= MAX_REQUEST_TIMEOUT_MS:
            raise InvalidInputError(f"{what}: request_settings.request_timeout_ms must be "
                                    f"from 1 to {MAX_REQUEST_TIMEOUT_MS}")
        if rs.concurrency < 1 or rs.queue_wait_ms < 0:
            raise InvalidInputError(f"{what}: request_settings.max_concurrent_requests_per_"
                                    "instance must be >= 1 and max_queue_wait_ms >= 0")
        lm = self._language_model(workspace, d)
        flow = None if lm else self._flow(workspace, d)
        if self._ray_compute(workspace, d) is not None:
            self._check_ray(d, served=("a language model" if lm else "a flow" if flow else ""))
        # a flow waits on model calls too, and its worker overlaps requests as the llm one does
        d.request_settings = d.request_settings.filled(
            LLM_REQUEST_DEFAULTS if lm or flow else REQUEST_DEFAULTS)
        resolved = self.assets.check(workspace, what, d.model, d.code_configuration,
                                     d.environment, language_model=lm is not None or
                                     flow is not None)
        d.model, d.environment = resolved.model, resolved.environment
        if lm is not None:
            if d.environment is not None:
                raise InvalidInputError(
                    f"{what}: language model {lm.reference} runs on the server's own Python "
                    "with no environment; remove `environment` (or add a code_configuration "
                    "to serve it with your own scoring script in that environment)")
            d.model = lm.reference
            d.runtime = choose_runtime(what, lm, d.runtime)
            llm_settings(what, d.environment_variables)
        elif d.runtime:
            raise InvalidInputError(
                f"{what}: `runtime` applies to a language model deployed without a scoring "
                "script; this deployment "
                + ("has a scoring script" if d.code_configuration else "has no language model"))
        if d.data_collector is not None and any(
                d.data_collector.enabled(n) for n in ("request", "response")):
            if not 0.0 <= d.data_collector.sampling_rate <= 1.0:
                raise InvalidInputError(f"{what}: data_collector.sampling_rate must be from 0 "
                                        "to 1")

    def _ray_compute(self, workspace: str, d: OnlineDeployment) -> Compute | None:
        """The Ray compute that serves the deployment, None when it runs locally. Raises
        NotFoundError for a compute that is not (or no longer) registered."""
        name = compute_name_of(d.compute or "")
        if not name or name == LOCAL_COMPUTE:
            return None
        what = f"online deployment {d.name!r}"
        if self.computes is None:
            raise UnsupportedError(f"{what}: this server serves deployments locally only; "
                                   f"remove `compute: {d.compute}`")
        try:
            compute = self.computes.get(workspace, name)
        except NotFoundError:
            raise NotFoundError(f"{what}: compute {name!r} does not exist in workspace "
                                f"{workspace!r}") from None
        return compute if compute.type == "ray" else None

    @staticmethod
    def _check_ray(d: OnlineDeployment, served: str) -> None:
        """What a Ray Serve deployment cannot have (its replicas run on the cluster's Python)."""
        what = f"online deployment {d.name!r} on compute {d.compute!r}"
        if served:
            raise UnsupportedError(f"{what}: {served} is served by Ember's own worker on the "
                                   "server's machine; remove `compute` to deploy it")
        if d.environment is not None:
            raise UnsupportedError(f"{what}: `environment` is not supported on a Ray compute "
                                   "yet: its replicas run on the cluster's Python; remove it "
                                   "(or deploy without `compute`)")
        dc = d.data_collector
        if dc is not None:
            for name in dc.collections:
                if name not in OnlineDeploymentService.ROUTER_COLLECTIONS and dc.enabled(name):
                    raise UnsupportedError(
                        f"{what}: data_collector.collections.{name} is logged by the scoring "
                        "script, which runs on the Ray cluster and cannot write to the "
                        "server's artifact store; only request and response are collected "
                        "(by the router)")

    def _start_rollout(self, workspace: str, d: OnlineDeployment, all_traffic: bool) -> None:
        key: Key = (workspace, d.endpoint_name, d.name)
        thread = threading.Thread(target=self._rollout, args=(workspace, d, all_traffic),
                                  name=f"ember-rollout-{d.name}", daemon=True)
        with self._guard:
            self._threads[key] = thread
        thread.start()

    def _rollout(self, workspace: str, d: OnlineDeployment, all_traffic: bool) -> None:
        key: Key = (workspace, d.endpoint_name, d.name)
        try:
            plan = self._plan(workspace, d)
            self.supervisor.deploy(key, plan, d.instance_count, d.liveness_probe,
                                   d.readiness_probe, self._route(workspace, d))
        except Exception as exc:  # noqa: BLE001 - recorded on the deployment, not lost
            message = exc.message if isinstance(exc, EmberError) else f"{type(exc).__name__}: {exc}"
            log.warning("rollout of %s/%s failed: %s", d.endpoint_name, d.name, message)
            self._set_state(workspace, d, ProvisioningState.FAILED, message)
            return
        try:
            self._register_collections(workspace, d)
        except EmberError as exc:
            log.warning("data collection assets of %s/%s: %s", d.endpoint_name, d.name, exc)
        if all_traffic:   # before Succeeded: a caller that waited for it sees the traffic
            try:
                self.endpoints.update(workspace, d.endpoint_name, traffic={d.name: 100})
            except EmberError as exc:
                self._set_state(workspace, d, ProvisioningState.FAILED,
                                f"the workers are ready but --all-traffic failed: {exc.message}")
                return
        self._set_state(workspace, d, ProvisioningState.SUCCEEDED, "")

    def _set_state(self, workspace: str, d: OnlineDeployment, state: str, error: str) -> None:
        try:
            current = self.store.get_deployment(workspace, d.endpoint_name, d.name)
        except NotFoundError:
            return   # deleted meanwhile
        if current.generation != d.generation:
            return   # a newer update owns the state
        current.provisioning_state, current.error = state, error
        self.store.update_deployment(workspace, current)

    # --- the worker plan ----------------------------------------------------------------

    def _language_model(self, workspace: str, d: OnlineDeployment) -> LanguageModel | None:
        """The language model a deployment without a scoring script serves, else None."""
        if d.code_configuration is not None or not isinstance(d.model, str) or not d.model:
            return None
        return self.language_models.find(workspace, d.model)

    def _flow(self, workspace: str, d: OnlineDeployment) -> FlowModel | None:
        """The prompt flow a deployment without a scoring script serves, else None."""
        if d.code_configuration is not None or not isinstance(d.model, str) or not d.model:
            return None
        return self.flows.find(workspace, d.model)

    def _plan(self, workspace: str, d: OnlineDeployment) -> WorkerPlan:
        lm = self._language_model(workspace, d)
        flow = None if lm else self._flow(workspace, d)
        if flow is not None:
            notes = [] if d.environment is None else [
                ("the deployment's environment is not built: a flow runs on the server's "
                 "Python, with Ember's flow engine")]
            return self.flows.plan(
                workspace, d.endpoint_name, d.name, flow,
                environment_variables=d.environment_variables,
                request_timeout_ms=d.request_settings.timeout_ms,
                memory_limit_mb=d.worker_memory_limit_mb, revision=d.generation, notes=notes)
        if lm is not None:
            return self.language_models.plan(
                workspace, d.endpoint_name, d.name, lm,
                runtime=choose_runtime(f"online deployment {d.name!r}", lm, d.runtime),
                environment_variables=d.environment_variables,
                request_timeout_ms=d.request_settings.timeout_ms,
                memory_limit_mb=d.worker_memory_limit_mb, revision=d.generation)
        folder = self.home / "serving" / workspace / d.endpoint_name / d.name / \
            f"g{d.generation}"
        config: dict[str, Any] = {"workspace": workspace, "endpoint": d.endpoint_name,
                                  "deployment": d.name,
                                  "environment_variables": dict(d.environment_variables),
                                  "model_dir": None, "model_path": None, "code_dir": None,
                                  "scoring_script": None,
                                  "request_timeout_ms": d.request_settings.timeout_ms}
        if isinstance(d.model, str) and d.model:
            model = self.models.resolve(workspace, d.model)
            config["model_dir"], config["model_path"] = materialize(
                self.artifacts, self.home, workspace, model)
        if d.code_configuration is not None:
            code_dir = folder / "code"
            if code_dir.exists():
                shutil.rmtree(code_dir)
            digest = d.code_configuration.code.removeprefix("codes/")
            self.artifacts.get_local(upload_prefix(workspace, "code", digest), code_dir)
            config.update(kind="script", code_dir=str(code_dir),
                          scoring_script=d.code_configuration.scoring_script)
            collections = self._script_collections(workspace, d)
            if collections:
                config["data_collections"] = {
                    "collections": collections, "endpoint": d.endpoint_name,
                    "deployment": d.name,
                    "sampling_rate": d.data_collector.sampling_rate
                    if d.data_collector is not None else 1.0}
        else:
            config["kind"] = "mlflow"
        compute = self._ray_compute(workspace, d)
        if compute is not None:   # a Serve app on the cluster's Python (ray_serve.py)
            config.pop("data_collections", None)
            options: dict[str, Any] = {}
            resources = dict(compute.resources)
            if "CPU" in resources:
                options["num_cpus"] = resources.pop("CPU")
            if "GPU" in resources:
                options["num_gpus"] = resources.pop("GPU")
            if resources:
                options["resources"] = resources
            return WorkerPlan(argv=[], env={}, config=config, revision=d.generation,
                              ray={"compute": compute.name, "address": compute.address,
                                   "actor_options": options,
                                   "max_ongoing_requests": d.request_settings.concurrency})
        env, label = self.assets.environment(workspace, d.environment)
        from_model = False
        if env is None and config["kind"] == "mlflow" and config["model_path"]:
            env = mlflow_environment(config["model_path"])
            from_model = env is not None
            source = "conda.yaml" if env and env.conda_file else "requirements.txt"
            label = f"of model {d.model} (its {source})"
        build_log = BuildLog(folder / "build.log")
        try:
            mat = self.builder.materialize(env, label, build_log)
        except EnvironmentBuildError as exc:
            if not from_model:
                raise
            saved = conda_python(env.conda_file if env else None)
            why = (f"the model was saved with Python {saved}" if saved
                   else "the model's pins may be for another Python")
            raise EnvironmentBuildError(
                f"{exc.message}; {why}. Deploy it with "
                "an environment that works here: --environment azureml:<name>:<version> (a "
                "registered one) or a curated one such as "
                "azureml://registries/azureml/environments/mlflow-py312-inference/labels/latest"
            ) from exc
        # Ember is importable only in the server's own Python: a built environment runs the
        # worker by file path (a venv's python resolves to the same interpreter as the
        # server's, so comparing interpreters cannot tell them apart).
        python = str(mat.python)
        argv = [python, "-m", "ember.serving.worker"] if mat.env_dir is None \
            else [python, WORKER_FILE]
        return WorkerPlan(argv=argv, env={"PYTHONUNBUFFERED": "1"}, config=config, cwd=None,
                          memory_limit_mb=d.worker_memory_limit_mb, revision=d.generation)

    def _route(self, workspace: str, d: OnlineDeployment) -> dict[str, Any]:
        rs = d.request_settings
        route: dict[str, Any] = {
            "max_concurrent_requests_per_instance": rs.concurrency,
            "request_timeout_ms": rs.timeout_ms,
            "max_queue_wait_ms": rs.queue_wait_ms,
            "collect_request": None, "collect_response": None, "sampling_rate": 0.0}
        dc = d.data_collector
        if dc is not None:
            route["sampling_rate"] = dc.sampling_rate
            for name in ("request", "response"):
                if dc.enabled(name):
                    route[f"collect_{name}"] = self.artifacts.location(
                        self.collection_rel(workspace, d, name))
        return route

    def _register_collections(self, workspace: str, d: OnlineDeployment) -> None:
        """Each enabled collection is a uri_folder data asset (Azure's default names
        ``<endpoint>-<deployment>-model_inputs`` / ``-model_outputs``), for monitoring later."""
        dc = d.data_collector
        if dc is None:
            return
        for name, suffix in (("request", "model_inputs"), ("response", "model_outputs"),
                             ("model_inputs", "model_inputs"),
                             ("model_outputs", "model_outputs")):
            if not dc.enabled(name):
                continue
            self.artifacts.makedirs(self.collection_rel(workspace, d, name))
            spec = (dc.collections.get(name) or {}).get("data") or {}
            asset = str(spec.get("name") or f"{d.endpoint_name}-{d.name}-{suffix}")
            path = self.collection_uri(d, name)
            if any(a.path == path for a in self.data.list(workspace, asset)):
                continue
            self.data.create(workspace, DataAsset(name=asset, version="", path=path,
                                                  type="uri_folder",
                                                  description=f"{name} payloads collected from "
                                                  f"{d.endpoint_name}/{d.name}"))

    # Collections the router writes itself; any other enabled one is the scoring script's.
    ROUTER_COLLECTIONS = ("request", "response")

    def _script_collections(self, workspace: str, d: OnlineDeployment) -> dict[str, str]:
        """Each enabled collection the scoring script logs to (Azure's ``model_inputs``,
        ``model_outputs`` or any other name) → its local folder."""
        dc = d.data_collector
        if dc is None:
            return {}
        out: dict[str, str] = {}
        for name in dc.collections:
            if name in self.ROUTER_COLLECTIONS or not dc.enabled(name):
                continue
            local = self.artifacts.local_path(self.collection_rel(workspace, d, name))
            if local is None:
                log.warning("deployment %s/%s: collection %r is not collected: the artifact "
                            "store is not a local folder", d.endpoint_name, d.name, name)
                continue
            local.mkdir(parents=True, exist_ok=True)
            out[name] = str(local)
        return out

    @staticmethod
    def collection_uri(d: OnlineDeployment, name: str) -> str:
        """The datastore URI of collection ``name`` ("request" or "response")."""
        return (f"azureml://datastores/workspaceblobstore/paths/modelDataCollector/"
                f"{d.endpoint_name}/{d.name}/{name}")

    def collections(self, workspace: str, endpoint: str, name: str) -> dict[str, str | None]:
        """Each collection's datastore URI, None where it is not enabled."""
        d = self.get(workspace, endpoint, name)
        dc = d.data_collector
        return {c: self.collection_uri(d, c) if dc is not None and dc.enabled(c) else None
                for c in ("request", "response", "model_inputs", "model_outputs")}

    @staticmethod
    def collection_rel(workspace: str, d: OnlineDeployment, name: str) -> str:
        """The artifact store path the router appends collection ``name``'s payloads under."""
        return (f"workspaces/{workspace}/datastores/workspaceblobstore/modelDataCollector/"
                f"{d.endpoint_name}/{d.name}/{name}")

    # --- the rest -----------------------------------------------------------------------

    def get(self, workspace: str, endpoint: str, name: str) -> OnlineDeployment:
        return self.store.get_deployment(workspace, endpoint, name)

    def list(self, workspace: str, endpoint: str) -> list[OnlineDeployment]:
        self.store.get_endpoint(workspace, endpoint)
        return [d for _, d in self.store.list_deployments(workspace, endpoint)]

    def instances(self, workspace: str, endpoint: str,
                  name: str) -> builtins.list[dict[str, Any]]:
        return self.supervisor.instances((workspace, endpoint, name))

    def serves(self, workspace: str, endpoint: str, name: str) -> str:
        """"language_model", "flow" or "model" for a running deployment, else ""."""
        return self.supervisor.serves((workspace, endpoint, name))

    def delete(self, workspace: str, endpoint: str, name: str) -> None:
        self.store.get_deployment(workspace, endpoint, name)
        ep = self.store.get_endpoint(workspace, endpoint)
        if ep.traffic.get(name):
            raise ConflictError(f"online deployment {name!r} receives {ep.traffic[name]}% of "
                                f"endpoint {endpoint!r}'s traffic; set it to 0 first")
        if ep.mirror_traffic.get(name):
            ep.mirror_traffic.pop(name)
            self.store.update_endpoint(workspace, ep)
        self.store.delete_deployment(workspace, endpoint, name)
        self.supervisor.remove((workspace, endpoint, name))
        self.flows.revoke(workspace, endpoint, name)

    def get_logs(self, workspace: str, endpoint: str, name: str, lines: int = 100) -> str:
        d = self.store.get_deployment(workspace, endpoint, name)
        text = self.supervisor.logs((workspace, endpoint, name), lines)
        build = self.home / "serving" / workspace / endpoint / name / f"g{d.generation}" / \
            "build.log"
        if build.exists() and build.stat().st_size:   # a deployment that built its environment
            text = f"--- environment build ---\n{log_tail(build, lines)}\n{text}".rstrip("\n")
        if d.error:
            text = f"{text}\n--- provisioning error ---\n{d.error}" if text else d.error
        return text

    def recover(self, adopted: dict[Key, int]) -> None:
        """After a server start (the supervisor has adopted what a previous server left
        serving; ``adopted`` is ``supervisor.adopted()``): a deployment whose workers were
        adopted for its current generation keeps them (the supervisor replaces the dead ones);
        every other deployment that was serving or being rolled out is rolled out again. A
        Failed deployment keeps whatever older generation still serves it. Each deployment
        recorded here is taken out of ``adopted``: what is left there belongs to no online
        deployment (the caller stops it once every kind has taken its own)."""
        for workspace, d in self.store.list_deployments():
            key: Key = (workspace, d.endpoint_name, d.name)
            revision = adopted.pop(key, None)
            if revision == d.generation:
                if d.provisioning_state != ProvisioningState.SUCCEEDED and not d.error:
                    self._set_state(workspace, d, ProvisioningState.SUCCEEDED, "")
                continue
            if d.provisioning_state == ProvisioningState.FAILED:
                continue
            d.provisioning_state = ProvisioningState.UPDATING
            self.store.update_deployment(workspace, d)
            self._start_rollout(workspace, d, False)
