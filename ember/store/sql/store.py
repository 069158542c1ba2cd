"""The SQL metadata store: one engine, one repository per aggregate."""

from __future__ import annotations

from ember.store.sql.audit import SqlAuditStore
from ember.store.sql.auth import SqlAuthStore
from ember.store.sql.batch_endpoints import SqlBatchEndpointStore
from ember.store.sql.components import SqlComponentStore
from ember.store.sql.computes import SqlComputeStore
from ember.store.sql.connections import SqlConnectionStore
from ember.store.sql.data import SqlDataAssetStore
from ember.store.sql.datastores import SqlDatastoreStore
from ember.store.sql.online_endpoints import SqlOnlineEndpointStore
from ember.store.sql.serverless_endpoints import SqlServerlessEndpointStore
from ember.store.sql.engine import make_engine, migrate
from ember.store.sql.environments import SqlEnvironmentStore
from ember.store.sql.jobs import SqlJobStore
from ember.store.sql.models import SqlModelStore
from ember.store.sql.registries import SqlRegistryStore
from ember.store.sql.schedules import SqlScheduleStore
from ember.store.sql.tracking import SqlTrackingStore
from ember.store.sql.traces import SqlTraceStore
from ember.store.sql.workspaces import SqlWorkspaceStore


class SqlStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        migrate(self.engine)
        self.workspaces = SqlWorkspaceStore(self.engine)
        self.datastores = SqlDatastoreStore(self.engine)
        self.computes = SqlComputeStore(self.engine)
        self.data = SqlDataAssetStore(self.engine)
        self.environments = SqlEnvironmentStore(self.engine)
        self.components = SqlComponentStore(self.engine)
        self.jobs = SqlJobStore(self.engine)
        self.tracking = SqlTrackingStore(self.engine)
        self.traces = SqlTraceStore(self.engine)
        self.models = SqlModelStore(self.engine)
        self.online_endpoints = SqlOnlineEndpointStore(self.engine)
        self.batch_endpoints = SqlBatchEndpointStore(self.engine)
        self.serverless_endpoints = SqlServerlessEndpointStore(self.engine)
        self.connections = SqlConnectionStore(self.engine)
        self.auth = SqlAuthStore(self.engine)
        self.audit = SqlAuditStore(self.engine)
        self.registries = SqlRegistryStore(self.engine)
        self.schedules = SqlScheduleStore(self.engine)

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()
