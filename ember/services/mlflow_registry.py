"""MLflow Model Registry semantics over Ember's registry, where they differ from Ember's own
model API: a version is created only under an existing registered model and takes its type
from the files (MLmodel or not); deleting a tag or an alias that is not set is not an error;
transition-stage can archive the other versions of the target stage. The routes are
``server/routes/mlflow_registry.py``; the JSON shapes ``registry_wire.py``."""

from __future__ import annotations

from typing import Any

from ember.entities.models import Model, RegisteredModel
from ember.entities.names import check_name
from ember.errors import InvalidInputError
from ember.services.models import AUTO_TYPE, ModelService
from ember.tracking import registry_wire as rw
from ember.tracking import wire


def registered(svc: ModelService, ws: str, rm: RegisteredModel) -> dict[str, Any]:
    versions = svc.list_versions(ws, rm.name)
    return {"registered_model": rw.registered_model_json(rm, versions)}


def create_version(svc: ModelService, ws: str, b: dict[str, Any]) -> Model:
    name = rw.name(b)
    svc.get_registered(ws, name)   # MLflow: a version needs its registered model
    # MLflow registers any folder: with an MLmodel file it is an mlflow_model, else custom.
    return svc.create(ws, Model(name=name, path=rw.name(b, "source"), type=AUTO_TYPE,
                                description=rw.description(b), tags=rw.tags(b),
                                run_id=wire.text(b, "run_id") or ""))


def set_registered_tag(svc: ModelService, ws: str, name: str, key: str,
                       value: str | None) -> None:
    svc.set_tag(ws, name, None, key, value)


def set_version_tag(svc: ModelService, ws: str, name: str, version: int, key: str,
                    value: str | None) -> None:
    svc.set_tag(ws, name, version, key, value)


def transition(svc: ModelService, ws: str, name: str, version: int, stage: str,
                archive_existing: bool) -> Model:
    if archive_existing and stage not in rw.ACTIVE_STAGES:
        raise InvalidInputError(f"archive_existing_versions moves versions out of an active "
                                f"stage ({', '.join(rw.ACTIVE_STAGES)}), not {stage!r}")
    svc.get_version(ws, name, version)   # the target must exist before others move
    if archive_existing:
        for other in svc.list_versions(ws, name, include_archived=True):
            if other.stage == stage and other.version != version:
                svc.set_stage(ws, name, other.version, "Archived")
    return svc.update(ws, name, version, stage=stage)


def delete_alias(svc: ModelService, ws: str, name: str, alias: str) -> None:
    if alias in svc.get_registered(ws, name).aliases:
        svc.delete_alias(ws, name, alias)


def rename(svc: ModelService, ws: str, name: str, new_name: str) -> RegisteredModel:
    check_name("model", new_name)
    return svc.update_registered(ws, name, new_name=new_name)
