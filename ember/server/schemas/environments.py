from __future__ import annotations

from typing import Any

from pydantic import Field

from ember.entities.environments import Environment
from ember.server.schemas.base import Body, Description, Tags


class EnvironmentIn(Body):
    name: str = ""
    version: str = ""
    image: str | None = None
    conda_file: dict[str, Any] | None = None
    pip_requirements: list[str] | None = None
    build: dict[str, Any] | None = None
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    os_type: str = "linux"
    inference_config: dict[str, Any] | None = None

    def entity(self) -> Environment:
        return Environment(name=self.name, version=str(self.version or ""), image=self.image,
                           conda_file=self.conda_file, pip_requirements=self.pip_requirements,
                           build=self.build, description=self.description, tags=self.tags,
                           os_type=self.os_type, inference_config=self.inference_config)

    @classmethod
    def of_entity(cls, e: Environment) -> EnvironmentIn:
        return cls(name=e.name, version=e.version, image=e.image, conda_file=e.conda_file,
                   pip_requirements=e.pip_requirements, build=e.build,
                   description=e.description, tags=e.tags, os_type=e.os_type,
                   inference_config=e.inference_config)


class EnvironmentOut(EnvironmentIn):
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    creation_time: float
    id: str

    @classmethod
    def of(cls, e: Environment) -> EnvironmentOut:
        base = EnvironmentIn.of_entity(e).model_dump()
        return cls(**base, creation_time=e.creation_time, id=f"azureml:{e.name}:{e.version}")
