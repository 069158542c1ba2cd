"""The Platform: every service of one server process, built once from Settings."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.artifacts.store import ArtifactStore
from ember.engine.environments import EnvironmentBuilder
from ember.engine.finetuning import FineTuningDriver, FineTuningService
from ember.engine.job_tokens import JobTokens
from ember.engine.job_user import resolve_job_user
from ember.engine.jobs import JobService
from ember.engine.orchestrator import Orchestrator
from ember.engine.pipelines import PipelineDriver, PipelineService
from ember.engine.remote_files import RemoteJobFiles
from ember.engine.remote_workdir import RemotePreparer
from ember.engine.reuse import DataHasher
from ember.engine.sweeps import SweepDriver, SweepService
from ember.engine.scheduler import Scheduler
from ember.engine.workdir import WorkdirPreparer
from ember.entities.jobs import Job, JobStatus
from ember.entities.workspaces import Workspace
from ember.errors import ConflictError, InvalidInputError
from ember.services._secrets import SecretBox, load_or_create_key
from ember.services.audit import AuditLog
from ember.services.auth import AuthService
from ember.services.components import ComponentService
from ember.services.connections import ConnectionService
from ember.services.data import DataService
from ember.services.datastore_roots import DatastoreRoots
from ember.services.computes import ComputeService
from ember.services.datastores import DatastoreService
from ember.services.environments import EnvironmentService
from ember.services.models import ModelService
from ember.services.registries import RegistryService
from ember.services.uploads import UploadService
from ember.services.workspaces import WorkspaceService
from ember.server.public import PublicText
from ember.settings import Settings
from ember.store.sql.store import SqlStore


if TYPE_CHECKING:
    from ember.entities.pipelines import PipelineJob

class Platform:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings.resolved()
        self.store = SqlStore(self.settings.store_url)
        self.artifacts = ArtifactStore(self.settings.artifacts_url)
        self.auth = AuthService(self.store.auth, enabled=self.settings.auth)
        self.audit = AuditLog(self.store.audit)
        self.owner_token = self._set_up_auth()
        self.workspaces = WorkspaceService(self.store.workspaces, self.store.datastores,
                                           self.artifacts)
        self.datastores = DatastoreService(self.store.datastores, self.artifacts, DatastoreRoots(
            working_dir=Path(self.settings.working_dir),
            allowed=[Path(p) for p in self.settings.allowed_datastore_roots],
            home=self.settings.home,
            artifacts_root=self.artifacts.local_path("")))
        self.data = DataService(self.store.data, self.datastores)
        self.computes = ComputeService(self.store.computes,
                                       max(1, self.settings.max_concurrent_jobs),
                                       jobs=self.store.jobs,
                                       deployments=self.store.online_endpoints)
        self.registries = RegistryService(self.store.registries, self.workspaces)
        self.environments = EnvironmentService(self.store.environments, self.registries)
        self.uploads = UploadService(self.artifacts, self.settings.home / "tmp")
        self.components = ComponentService(self.store.components, self.environments,
                                           self.uploads, self.registries)
        self.workspaces.ensure_default()
        self.connections = ConnectionService(
            self.store.connections,
            SecretBox(load_or_create_key(self.settings.home, self.settings.secrets_key)))
        from ember.tracking.service import TrackingService

        self.tracking = TrackingService(self.store.tracking, self.artifacts)
        from ember.tracking.traces import TraceService

        self.traces = TraceService(self.store.traces, self.tracking)
        self.jobs = JobService(self.store.jobs, self.environments, self.data, self.datastores,
                               self.uploads, self.tracking, self.artifacts, self.computes)
        self.models = ModelService(self.store.models, self.artifacts, self.datastores,
                                   self.tracking, self.jobs.output_uri,
                                   registries=self.registries)
        self.preparer = WorkdirPreparer(self.settings.home, self.artifacts, self.datastores,
                                        self.environments, EnvironmentBuilder(self.settings.home),
                                        self.jobs.output_uri,
                                        job_user=resolve_job_user(self.settings.job_user),
                                        connections=self.connections.list_secrets)
        self.remote_files = RemoteJobFiles(self.jobs, self.datastores)
        remote = RemotePreparer(self.settings.home, self.artifacts, self.environments,
                                self.remote_files, connections=self.connections.list_secrets)
        self.scheduler = Scheduler(self.jobs, self.preparer, self.settings,
                                   tokens=JobTokens(self.auth), computes=self.computes,
                                   remote=remote)
        self.orchestrator = Orchestrator(self.jobs)
        self.pipelines = PipelineService(self.jobs, self.components, self.orchestrator,
                                         models=self.models)
        hasher = DataHasher(self.datastores, self.jobs.output_uri)
        self.sweeps = SweepService(self.jobs, self.components, self.orchestrator)
        self.orchestrator.register("pipeline", PipelineDriver(self.jobs, self.orchestrator,
                                                              hasher, self.sweeps,
                                                              self.pipelines))
        self.orchestrator.register("sweep", SweepDriver(self.jobs, self.tracking,
                                                        self.orchestrator))
        from ember.engine.workspace_flows import WorkspaceFlowService
        from ember.services.flow_files import ArtifactFlowFiles

        self.workspace_flows = WorkspaceFlowService(ArtifactFlowFiles(self.artifacts), self.jobs,
                                                    self.uploads, self.settings.home / "tmp")
        self.finetuning = FineTuningService(self.jobs, self.models, self.orchestrator, hasher,
                                            self.settings.home)
        self.orchestrator.register("finetuning", FineTuningDriver(self.jobs, self.models,
                                                                  self.orchestrator))
        from ember.serving.online_deployments import OnlineDeploymentService
        from ember.serving.online_endpoints import OnlineEndpointService
        from ember.serving.supervisor import Supervisor

        from ember.serving.serverless_endpoints import ServerlessEndpointService

        self.supervisor = Supervisor(
            self.settings.home, self.settings.host, self.settings.serving_port or 0,
            lambda: self.online_endpoints.views() + self.serverless_endpoints.views())
        self.online_endpoints = OnlineEndpointService(self.store.online_endpoints, self.supervisor)
        self.online_deployments = OnlineDeploymentService(
            self.store.online_endpoints, self.online_endpoints, self.supervisor, self.models,
            self.environments, self.preparer.builder, self.uploads, self.artifacts, self.data,
            self.settings.home, auth=self.auth, computes=self.computes)
        self.serverless_endpoints = ServerlessEndpointService(
            self.store.serverless_endpoints, self.online_endpoints, self.supervisor,
            self.online_deployments.language_models)
        from ember.serving.batch_deployments import BatchDeploymentService
        from ember.serving.batch_endpoints import BatchEndpointService

        self.batch_endpoints = BatchEndpointService(self.store.batch_endpoints, self.jobs,
                                                    self.models, self.artifacts,
                                                    self.settings.home, self.settings.base_url)
        self.batch_deployments = BatchDeploymentService(self.store.batch_endpoints,
                                                        self.online_deployments.assets)
        from ember.engine.monitors import DeploymentCollections, MonitorService
        from ember.engine.schedules import ScheduleService
        from ember.services.notifications import Notifier, smtp_settings

        def collections(workspace: str, endpoint: str, name: str) -> DeploymentCollections:
            # What the scoring script logs (Azure's model_inputs/model_outputs with
            # azureml.ai.monitoring's Collector), else what the router collects.
            c = self.online_deployments.collections(workspace, endpoint, name)
            return DeploymentCollections(request=c["model_inputs"] or c["request"],
                                         response=c["model_outputs"] or c["response"])

        self.monitors = MonitorService(self.jobs, self.store.schedules, self.datastores,
                                       collections, Notifier(smtp_settings(self.settings)),
                                       self._submit_job)
        self.schedules = ScheduleService(self.store.schedules, self.jobs, self._submit_job,
                                         monitors=self.monitors)
        self.executor = ThreadPoolExecutor(max_workers=16, thread_name_prefix="ember-io")
        # Error texts for API callers name no folder of this server.
        local_roots = [self.settings.home, self.settings.artifacts_url]
        self.public_text = PublicText(str(r) for r in local_roots if "://" not in str(r))

    def _set_up_auth(self) -> str | None:
        """The owner token (in EMBER_HOME), the ``--admin-user``, and the refusal to listen
        beyond loopback without an admin who can log in."""
        s = self.settings
        if not s.auth:
            if not s.loopback:
                raise InvalidInputError(f"authentication can be off only on loopback; this "
                                        f"server would listen on {s.host}")
            return None
        if s.admin_user:
            if not s.admin_password:
                raise InvalidInputError(f"--admin-user {s.admin_user}: set its password in "
                                        "EMBER_ADMIN_PASSWORD")
            self.auth.ensure_admin(s.admin_user, s.admin_password)
        if not s.loopback and not self.auth.has_admin(besides_owner=True):
            raise InvalidInputError(
                f"a server listening on {s.host} needs an admin account: start it with "
                "--admin-user NAME (password in EMBER_ADMIN_PASSWORD), or make one first with "
                "'ember user create NAME --admin' on a loopback server")
        return self.auth.ensure_owner_token(s.home)

    def delete_workspace(self, name: str) -> Workspace:
        """``ember workspace delete``: refused while a job of the workspace has not ended or
        an endpoint serves from it or a schedule is enabled (409, naming them); then
        soft-deleted."""
        self.workspaces.get(name)
        busy = [f"job {job.name!r}" for ws, job in self.jobs.list_in_status(
            [s for s in JobStatus.ALL if s not in JobStatus.TERMINAL], with_history=False)
            if ws == name]
        busy += [f"online endpoint {e.name!r}" for e in self.online_endpoints.list(name)]
        busy += [f"serverless endpoint {e.name!r}"
                 for e in self.serverless_endpoints.list(name)]
        busy += [f"batch endpoint {e.name!r}" for e in self.batch_endpoints.list(name)]
        busy += [f"enabled schedule {s.name!r}"
                 for s in self.schedules.list(name, "enabled_only")]
        if busy:
            raise ConflictError(f"workspace {name!r} is in use: {', '.join(busy[:5])}"
                                + (f" and {len(busy) - 5} more" if len(busy) > 5 else "")
                                + "; cancel the jobs, delete the endpoints and disable the "
                                "schedules first")
        return self.workspaces.delete(name)

    def _submit_job(self, workspace: str, spec: "dict[str, Any] | Job | PipelineJob",
                    submitter: str | None = None) -> Job:
        """A schedule's job, submitted as ``POST /jobs`` submits one, as ``submitter``."""
        from ember.entities.finetuning import FineTuningJob
        from ember.entities.pipelines import PipelineJob
        from ember.entities.sweeps import SweepJob
        from ember.server.schemas.jobs import parse_job_body

        job = parse_job_body(spec) if isinstance(spec, dict) else spec
        if isinstance(job, PipelineJob):
            return self.pipelines.create(workspace, job, submitter=submitter)
        if isinstance(job, SweepJob):
            return self.sweeps.create(workspace, job, submitter=submitter)
        if isinstance(job, FineTuningJob):
            return self.finetuning.create(workspace, job, submitter=submitter)
        job.submitter = submitter
        return self.jobs.create(workspace, job)

    def start(self) -> None:
        """Start background work (the job scheduler, which first recovers earlier jobs)."""
        self.audit.start()
        self.scheduler.start()
        self.orchestrator.start()
        self.supervisor.start()
        adopted = self.supervisor.adopted()
        self.online_deployments.recover(adopted)
        self.serverless_endpoints.recover(adopted)
        for key in adopted:   # workers of deployments no longer recorded
            self.supervisor.remove(key)
        self.schedules.start()
        self.monitors.recover()

    def close(self) -> None:
        self.schedules.close()
        # Alerts being sent finish (a stop mid-send is caught up at the next start-up).
        self.monitors.wait_idle(timeout=5.0)
        self.audit.close()
        self.supervisor.close()
        self.orchestrator.close()
        self.scheduler.close()
        self.executor.shutdown(wait=False)
        self.store.close()
