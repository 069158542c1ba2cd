"""Component request/response bodies."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ember.entities.components import Component, ComponentInput, ComponentOutput
from ember.server.schemas.environments import EnvironmentIn
from ember.server.schemas.base import Body, Command, Description, DisplayName, Tags


class ComponentInputBody(Body):
    type: str
    description: str = ""
    default: Any = None
    optional: bool = False
    min: float | None = None
    max: float | None = None
    enum: list[str] | None = None


class ComponentOutputBody(Body):
    type: str = "uri_folder"
    description: str = ""


class ComponentIn(Body):
    name: str
    version: str = ""
    display_name: DisplayName = ""
    description: Description = ""
    tags: Tags = Field(default_factory=dict)
    type: str = "command"
    is_deterministic: bool = True
    command: Command
    code: str | None = None
    environment: str | EnvironmentIn | None = None
    inputs: dict[str, ComponentInputBody] = Field(default_factory=dict)
    outputs: dict[str, ComponentOutputBody] = Field(default_factory=dict)
    additional_includes: list[str] = Field(default_factory=list)
    distribution: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None

    def entity(self) -> Component:
        env = self.environment
        return Component(
            name=self.name, version=str(self.version or ""), display_name=self.display_name,
            description=self.description, tags=self.tags, type=self.type,
            is_deterministic=self.is_deterministic, command=self.command, code=self.code,
            environment=env.entity() if isinstance(env, EnvironmentIn) else env,
            inputs={k: ComponentInput(**v.model_dump()) for k, v in self.inputs.items()},
            outputs={k: ComponentOutput(**v.model_dump()) for k, v in self.outputs.items()},
            additional_includes=list(self.additional_includes),
            distribution=self.distribution, resources=self.resources)


class ComponentOut(ComponentIn):
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = Field(default_factory=dict)
    command: str
    archived: bool
    creation_time: float
    id: str

    @classmethod
    def of(cls, c: Component) -> ComponentOut:
        data = c.to_dict()
        if isinstance(data["environment"], dict):
            data["environment"].pop("creation_time", None)
        return cls(**data, id=f"azureml:{c.name}:{c.version}")
