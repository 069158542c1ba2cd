"""Load any job YAML: the ``type`` key picks the loader (command, pipeline, sweep,
finetuning)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ember.specs._schema import load_spec


def load_any_job_spec(path: Path, overrides: list[str] | None = None) -> Any:
    """A :class:`~ember.entities.jobs.Job`, :class:`~ember.entities.pipelines.PipelineJob`,
    :class:`~ember.entities.sweeps.SweepJob` or :class:`~ember.entities.finetuning.FineTuningJob`,
    by the file's ``type`` (default command).
    Errors are SpecErrors naming the file, line and key, as each loader reports them."""
    data, ctx = load_spec(path, overrides)
    kind = data.get("type") if hasattr(data, "get") else None
    overridden = dict(ctx.overridden)
    if kind == "pipeline":
        from ember.specs.pipelines import pipeline_from_dict

        return pipeline_from_dict(data, ctx.source, ctx.base_dir, overridden=overridden)
    if kind == "sweep":
        from ember.specs.sweeps import sweep_spec_from_dict

        return sweep_spec_from_dict(data, ctx.source, ctx.base_dir, overridden=overridden)
    if kind == "finetuning":
        from ember.specs.finetuning import finetuning_spec_from_dict

        return finetuning_spec_from_dict(data, ctx.source, ctx.base_dir, overridden=overridden)
    from ember.specs.jobs import job_from_dict

    return job_from_dict(data, ctx.source, ctx.base_dir, overridden=overridden)
