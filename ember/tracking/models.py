"""MLflow 3 logged models: what ``log_model`` creates, finalizes, tags and searches for."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence

from ember.errors import InvalidInputError
from ember.store.tracking import TrackingStore
from ember.tracking import validation as v
from ember.entities.tracking import LoggedModel, LoggedModelStatus, Page
from ember.tracking.search import (
    MODEL_ATTRIBUTE_ALIASES,
    MODEL_ATTRIBUTES,
    parse_filter,
    parse_order_by,
)


def _now_ms() -> int:
    return int(time.time() * 1000)


class LoggedModelsMixin:
    store: TrackingStore
    experiment_id: Callable[[str, object], str]  # provided by TrackingService

    def create_logged_model(self, workspace: str, *, experiment_id: object,
                            name: str | None = None, model_type: str | None = None,
                            source_run_id: str | None = None,
                            params: Sequence[tuple[str, str]] = (),
                            tags: Sequence[tuple[str, str]] = ()) -> LoggedModel:
        """A PENDING model; its artifacts go to ``<experiment location>/models/<id>/artifacts``.
        """
        exp_id = self.experiment_id(workspace, experiment_id)
        experiment = self.store.get_experiment(workspace, exp_id)
        if source_run_id:
            self.store.get_run_info(workspace, v.check_run_id(source_run_id))
        model_id = f"m-{uuid.uuid4().hex}"
        now = _now_ms()
        model = LoggedModel(
            model_id=model_id, workspace=workspace, experiment_id=exp_id,
            name=name or model_id, creation_timestamp_ms=now, last_updated_timestamp_ms=now,
            artifact_location=(f"{experiment.artifact_location.rstrip('/')}/models/{model_id}"
                               "/artifacts"),
            status=LoggedModelStatus.PENDING, model_type=model_type or None,
            source_run_id=source_run_id or None,
            params=v.check_tags(params, v.MAX_PARAM_VALUE_LENGTH), tags=v.check_tags(tags))
        return self.store.create_logged_model(model)

    def get_logged_model(self, workspace: str, model_id: str, *,
                         allow_deleted: bool = False) -> LoggedModel:
        return self.store.get_logged_model(workspace, model_id, allow_deleted=allow_deleted)

    def finalize_logged_model(self, workspace: str, model_id: str, status: object) -> LoggedModel:
        if status not in LoggedModelStatus.ALL:
            raise InvalidInputError(
                f"Invalid logged model status {status!r}; one of "
                f"{', '.join(sorted(LoggedModelStatus.ALL))}")
        return self.store.update_logged_model(workspace, model_id, status=str(status),
                                              update_time=_now_ms())

    def set_logged_model_tags(self, workspace: str, model_id: str,
                              tags: Sequence[tuple[str, str]]) -> LoggedModel:
        self.store.set_logged_model_tags(workspace, model_id, v.check_tags(tags), _now_ms())
        return self.store.get_logged_model(workspace, model_id)

    def delete_logged_model_tag(self, workspace: str, model_id: str, key: str) -> None:
        self.store.delete_logged_model_tag(workspace, model_id, key)

    def log_logged_model_params(self, workspace: str, model_id: str,
                                params: Sequence[tuple[str, str]]) -> None:
        self.store.log_logged_model_params(workspace, model_id,
                                           v.check_tags(params, v.MAX_PARAM_VALUE_LENGTH))

    def delete_logged_model(self, workspace: str, model_id: str) -> None:
        self.store.delete_logged_model(workspace, model_id, _now_ms())

    def search_logged_models(self, workspace: str, experiment_ids: Sequence[object], *,
                             filter_string: str | None = None,
                             order_by: Sequence[tuple[str, bool]] = (),
                             max_results: int | None = None,
                             offset: int = 0) -> Page[LoggedModel]:
        """``order_by`` holds (field name, ascending) pairs, as the MLflow 3 request does."""
        if not experiment_ids:
            raise InvalidInputError("search_logged_models needs at least one experiment_id")
        ids = [self.experiment_id(workspace, e) for e in experiment_ids]
        keys = parse_order_by([f"{name} {'ASC' if asc else 'DESC'}" for name, asc in order_by],
                              MODEL_ATTRIBUTES, MODEL_ATTRIBUTE_ALIASES)
        return self.store.search_logged_models(
            workspace, ids,
            clauses=parse_filter(filter_string, MODEL_ATTRIBUTES, MODEL_ATTRIBUTE_ALIASES),
            order_by=keys, max_results=v.page_size(max_results, 100, 1000), offset=offset)
