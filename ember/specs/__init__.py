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

from ember.specs.data import load_data_spec
from ember.specs.environments import environment_from_dict, load_environment_spec
from ember.specs.expressions import find_references, render_command, validate_command
from ember.specs.jobs import job_extras, job_from_dict, load_job_spec
from ember.specs.overrides import apply_overrides
from ember.specs.references import is_asset_ref, parse_asset_ref
from ember.specs.yamlio import load_yaml, load_yaml_text

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
