"""Pipeline jobs (reference 1.2): steps wired together by ``${{parent...}}`` bindings.

A pipeline is loaded and checked here; running it is the scheduler's business. Decisions:

- ``settings.continue_on_step_failure`` defaults to **False** in Ember: the first failed step
  cancels the running steps and stops the pipeline, as the SDK and the schedule reference do (the
  pipeline reference says true; the sources disagree, see reference 1.2 [conflict]). A value
  written in the YAML (or set with ``--set``) always wins.
- ``settings.force_rerun`` defaults to False (reuse of deterministic steps is on).
- A step's compute is its own ``compute``, else ``settings.default_compute``, else the
  pipeline's top-level ``compute``, else ``local``: see :meth:`PipelineJob.step_compute`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ember.entities.components import Component
from ember.entities.jobs import Job, JobInput, JobOutput, job_from_plain



@dataclass
class Binding:
    """What one step input or output is wired to; exactly one source is set for inputs.

    - ``literal``: a literal value (``type`` is its literal type);
    - ``path``: a data path or URI given on the step (local paths made absolute);
    - ``parent_input``: ``${{parent.inputs.<x>}}``;
    - ``parent_output``: ``${{parent.outputs.<y>}}`` (step outputs only);
    - ``step`` + ``step_output``: ``${{parent.jobs.<step>.outputs.<o>}}``.

    An output binding with nothing set is a plain step output (system path). ``type`` and
    ``mode`` are what the step wrote (None when it did not say). ``line`` is the YAML line.
    """

    literal: Any = None
    path: str | None = None
    mode: str | None = None
    type: str | None = None
    parent_input: str | None = None
    parent_output: str | None = None
    step: str | None = None
    step_output: str | None = None
    line: int | None = field(default=None, compare=False, repr=False)

    @property
    def is_literal(self) -> bool:
        return (self.literal is not None and self.path is None and self.parent_input is None
                and self.step is None)


@dataclass
class PipelineStep:
    """One entry of ``jobs``.

    ``kind``: "command" (inline command-job fields; ``job`` holds them, with only the inputs
    and outputs the step fixes itself; bindings stay in ``inputs``/``outputs``), "component"
    (``component`` loaded from ``./file.yml`` or an inline mapping, or ``component_ref`` an
    ``azureml:`` reference resolved later by the server) or "pipeline" (a nested pipeline
    component, by reference only for now).
    """

    name: str
    kind: str
    component: Component | None = None
    component_ref: str | None = None
    job: Job | None = None
    inputs: dict[str, Binding] = field(default_factory=dict)
    outputs: dict[str, Binding] = field(default_factory=dict)
    compute: str | None = None
    environment_variables: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    display_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    # The step's own ``distribution``/``resources`` (plain data as written), over the
    # component's (see entities.components.overlay_run_settings). Kind "command" keeps them
    # on ``job`` instead; a "pipeline" step cannot use them (its child job's log says so).
    distribution: dict[str, Any] | None = None
    resources: dict[str, Any] | None = None
    # kind "sweep": the sweep definition (entities.sweeps.sweep_to_dict form, without
    # inputs/outputs, which are the step's bindings); ``component`` is then the trial
    # component less its hyperparameter inputs, for the graph checks.
    sweep: dict[str, Any] | None = None
    # kind "pipeline": the nested pipeline's body (pipeline_to_plain form); ``component`` is
    # then its interface (declared inputs and outputs), for the graph checks.
    pipeline: dict[str, Any] | None = None
    line: int | None = field(default=None, compare=False, repr=False)

    def upstream(self) -> list[str]:
        """The steps whose outputs this step consumes, in input order, without repeats."""
        seen: list[str] = []
        for binding in self.inputs.values():
            if binding.step is not None and binding.step not in seen:
                seen.append(binding.step)
        return seen


@dataclass
class PipelineSettings:
    """``settings`` of a pipeline job.

    ``continue_on_step_failure`` is False unless the YAML says otherwise: Ember stops at the
    first failed step (cancelling the running ones), like the SDK and schedules.
    """

    default_compute: str | None = None
    default_datastore: str | None = None
    continue_on_step_failure: bool = False
    force_rerun: bool = False
    on_init: str | None = None
    on_finalize: str | None = None
    # Keys Ember does not know (an Azure setting it has no use for, or a typo): kept as
    # written, and ignored; the YAML loader says so in a notice instead of refusing the job.
    ignored: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineJob:
    name: str = ""
    display_name: str = ""
    experiment_name: str = ""
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    inputs: dict[str, JobInput] = field(default_factory=dict)
    outputs: dict[str, JobOutput] = field(default_factory=dict)
    jobs: dict[str, PipelineStep] = field(default_factory=dict)
    settings: PipelineSettings = field(default_factory=PipelineSettings)
    compute: str | None = None
    type: str = "pipeline"

    def step_compute(self, step: PipelineStep) -> str:
        """Where ``step`` runs: its own compute, the default compute, the pipeline's, local."""
        return step.compute or self.settings.default_compute or self.compute or "local"


def pipeline_to_plain(pipeline: PipelineJob) -> dict[str, Any]:
    """Plain JSON-able data (what the server stores as the pipeline job's definition)."""
    return asdict(pipeline)


def pipeline_from_plain(d: dict[str, Any]) -> PipelineJob:
    """The inverse of :func:`pipeline_to_plain`; unknown keys are ignored."""
    data = {k: v for k, v in d.items() if k in PipelineJob.__dataclass_fields__}
    data["inputs"] = {k: JobInput(**v) for k, v in (data.get("inputs") or {}).items()}
    data["outputs"] = {k: JobOutput(**v) for k, v in (data.get("outputs") or {}).items()}
    data["settings"] = PipelineSettings(**(data.get("settings") or {}))
    data["jobs"] = {k: step_from_plain(v) for k, v in (data.get("jobs") or {}).items()}
    return PipelineJob(**data)


def step_from_plain(d: dict[str, Any]) -> PipelineStep:
    data = {k: v for k, v in d.items() if k in PipelineStep.__dataclass_fields__}
    if isinstance(data.get("component"), dict):
        data["component"] = Component.from_dict(data["component"])
    if isinstance(data.get("job"), dict):
        data["job"] = job_from_plain(data["job"])
    for side in ("inputs", "outputs"):
        data[side] = {k: Binding(**v) for k, v in (data.get(side) or {}).items()}
    return PipelineStep(**data)
