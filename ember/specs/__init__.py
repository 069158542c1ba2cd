"""Azure ML v2 YAML ⇄ Ember entities, with errors that name file, line and key.

- :mod:`~ember.specs.yamlio` reads YAML keeping line numbers;
- :mod:`~ember.specs.overrides` applies ``--set a.b=c``;
- :mod:`~ember.specs.references` parses ``azureml:name:version`` and friends;
- :mod:`~ember.specs.expressions` checks and renders ``${{...}}`` / ``$[[...]]`` commands;
- :mod:`~ember.specs.jobs`, :mod:`~ember.specs.environments`, :mod:`~ember.specs.data` turn
  specs into entities.

Every validation failure is a :class:`~ember.errors.SpecError` (bad references outside a spec:
:class:`~ember.errors.InvalidInputError`).
"""

from importlib import import_module
from typing import Any

# name -> the module defining it, imported on first use (PEP 562): importing one spec module
# (the flow engine reads YAML through yamlio) must not load every other one.
_EXPORTS = {
    "load_data_spec": "data", "environment_from_dict": "environments",
    "load_environment_spec": "environments", "find_references": "expressions",
    "render_command": "expressions", "validate_command": "expressions",
    "job_extras": "jobs", "job_from_dict": "jobs", "load_job_spec": "jobs",
    "apply_overrides": "overrides", "is_asset_ref": "references",
    "parse_asset_ref": "references", "load_yaml": "yamlio", "load_yaml_text": "yamlio",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ember.specs' has no attribute {name!r}")
    return getattr(import_module(f"ember.specs.{module}"), name)


__all__ = [
    "apply_overrides",
    "environment_from_dict",
    "find_references",
    "is_asset_ref",
    "job_extras",
    "job_from_dict",
    "load_data_spec",
    "load_environment_spec",
    "load_job_spec",
    "load_yaml",
    "load_yaml_text",
    "parse_asset_ref",
    "render_command",
    "validate_command",
]
