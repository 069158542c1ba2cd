"""A prompt flow batch run, as promptflow's ``Run`` shows it. A run *is* a command job (its name
is the job's name, its status the job's); this is the flow-shaped view of that job."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Job properties that mark a job as a flow run and carry what ``Run`` shows.
FLOW_RUN = "ember.flow_run"
FLOW_PATH = "ember.flow_path"
FLOW_DATA = "ember.flow_data"
FLOW_BASE_RUN = "ember.flow_base_run"
FLOW_VARIANT = "ember.flow_variant"
FLOW_COLUMN_MAPPING = "ember.flow_column_mapping"
OUTPUT = "flow_outputs"


@dataclass
class Run:
    flow: str = ""
    data: str | None = None
    run: str | None = None                 # the base run's name (an evaluation run)
    column_mapping: dict[str, Any] = field(default_factory=dict)
    variant: str | None = None
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    environment_variables: dict[str, str] = field(default_factory=dict)
    name: str | None = None
    display_name: str | None = None
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "NotStarted"
    created_on: float | None = None
    end_time: float | None = None
    error: str | None = None
    experiment_name: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
