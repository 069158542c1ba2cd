from __future__ import annotations

import time

from ember.entities.environments import Environment
from ember.errors import InvalidInputError
from ember.entities.names import check_name
from ember.store.environments import EnvironmentStore


def validate_environment(env: Environment, what: str) -> None:
    if env.image and env.build:
        raise InvalidInputError(f"{what}: set only one of 'image' and 'build'")
    if not (env.image or env.build or env.conda_file is not None
            or env.pip_requirements is not None):
        raise InvalidInputError(
            f"{what}: give an 'image', a 'build', a 'conda_file' or pip requirements")
    if env.os_type not in ("linux", "windows"):
        raise InvalidInputError(f"{what}: os_type {env.os_type!r} is not linux or windows")


class EnvironmentService:
    def __init__(self, environments: EnvironmentStore) -> None:
        self.environments = environments

    def create(self, workspace: str, env: Environment) -> Environment:
        if not env.name:
            raise InvalidInputError("an environment needs a name")
        check_name("environment", env.name)
        validate_environment(env, f"environment {env.name!r}")
        env.creation_time = time.time()
        return self.environments.create(workspace, env)

    def get(self, workspace: str, name: str, version: str | None = None) -> Environment:
        return self.environments.get(workspace, name, version)

    def list(self, workspace: str, name: str | None = None) -> list[Environment]:
        return self.environments.list(workspace, name)
