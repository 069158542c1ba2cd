"""Batch deployments: checked and recorded; nothing runs until the endpoint is invoked."""

from __future__ import annotations

import builtins
import time

from ember.entities.batch_endpoints import OUTPUT_ACTIONS, BatchDeployment
from ember.entities.names import check_name
from ember.errors import InvalidInputError, NotFoundError
from ember.serving.deployment_assets import DeploymentAssets
from ember.store.batch_endpoints import BatchEndpointStore


class BatchDeploymentService:
    def __init__(self, store: BatchEndpointStore, assets: DeploymentAssets) -> None:
        self.store = store
        self.assets = assets

    def create_or_update(self, workspace: str, d: BatchDeployment, *,
                         set_default: bool = False) -> BatchDeployment:
        check_name("batch deployment", d.name)
        ep = self.store.get_endpoint(workspace, d.endpoint_name)
        what = f"batch deployment {d.name!r}"
        s = d.settings
        if s.mini_batch_size < 1 or s.max_concurrency_per_instance < 1:
            raise InvalidInputError(f"{what}: mini_batch_size and max_concurrency_per_instance "
                                    "must be at least 1")
        if s.error_threshold < -1:
            raise InvalidInputError(f"{what}: error_threshold must be -1 (no limit) or more")
        if s.retry_settings.max_retries < 0 or s.retry_settings.timeout < 1:
            raise InvalidInputError(f"{what}: retry_settings.max_retries must be >= 0 and "
                                    "timeout >= 1 second")
        if s.output_action not in OUTPUT_ACTIONS:
            raise InvalidInputError(f"{what}: output_action {s.output_action!r} is not one of "
                                    f"{', '.join(OUTPUT_ACTIONS)}")
        if "/" in s.output_file_name or s.output_file_name in ("", ".", ".."):
            raise InvalidInputError(f"{what}: output_file_name must be a plain file name")
        if d.instance_count < 1:
            raise InvalidInputError(f"{what}: instance_count must be at least 1")
        resolved = self.assets.check(workspace, what, d.model, d.code_configuration,
                                     d.environment)
        d.model, d.environment = resolved.model, resolved.environment
        try:
            d.creation_time = self.store.get_deployment(workspace, d.endpoint_name,
                                                        d.name).creation_time
        except NotFoundError:   # a new deployment
            d.creation_time = time.time()
        self.store.put_deployment(workspace, d)
        if set_default or not ep.default_deployment:
            ep.default_deployment = d.name
            self.store.update_endpoint(workspace, ep)
        return d

    def get(self, workspace: str, endpoint: str, name: str) -> BatchDeployment:
        return self.store.get_deployment(workspace, endpoint, name)

    def list(self, workspace: str, endpoint: str) -> builtins.list[BatchDeployment]:
        self.store.get_endpoint(workspace, endpoint)
        return self.store.list_deployments(workspace, endpoint)

    def delete(self, workspace: str, endpoint: str, name: str) -> None:
        ep = self.store.get_endpoint(workspace, endpoint)
        self.store.delete_deployment(workspace, endpoint, name)
        if ep.default_deployment == name:
            ep.default_deployment = ""
            self.store.update_endpoint(workspace, ep)
