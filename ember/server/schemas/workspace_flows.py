"""Request/response types of a workspace's prompt flows (``/flows``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, Field

from ember.engine.workspace_flow_views import FlowView
from ember.server.schemas.base import Body, DisplayName, Tags


class FlowIn(Body):
    """A new flow: its ``files`` (path → text, ``flow.dag.yaml`` among them) or a
    ``template`` (``python``: one Python node)."""

    name: str
    files: dict[str, str] | None = None
    template: str | None = None


class FileIn(Body):
    content: str


class NodeIn(Body):
    name: str
    type: str = "python"
    inputs: dict[str, Any] = Field(default_factory=dict)
    source: str | None = None
    code: str | None = None


class NodeUpdate(Body):
    inputs: dict[str, Any] | None = None
    activate: dict[str, Any] | None = None   # {"when", "is"}; {} removes it
    variant: str | None = None               # change this variant's body (node_variants)


class FlowRunIn(Body):
    """A run of the stored flow: ``lines`` (input values, one object a line), a data asset
    (``data``), or a base run to evaluate (``run``)."""

    lines: list[dict[str, Any]] | None = None
    data: str | None = None
    run: str | None = None
    column_mapping: dict[str, Any] = Field(default_factory=dict)
    variant: str | None = None
    display_name: DisplayName | None = None
    tags: Tags = Field(default_factory=dict)


class FlowSummaryOut(BaseModel):
    name: str


class FlowOut(BaseModel):
    name: str
    files: dict[str, int]
    dag: str
    error: str | None
    inputs: dict[str, dict[str, Any]]
    outputs: dict[str, dict[str, Any]]
    nodes: list[dict[str, Any]]
    edges: list[dict[str, str]]

    @classmethod
    def of(cls, view: FlowView) -> FlowOut:
        return cls(**asdict(view))
