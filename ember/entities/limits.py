"""Every size limit of the control API, in one place (the README's "Limits" section lists them).

Past a limit a request is refused, never cut short: 413 ``PAYLOAD_TOO_LARGE`` for a whole body,
400 ``INVALID_PARAMETER_VALUE`` naming the field for anything inside one. The one exception is
MLflow's: a param or tag *value* over MLflow's length is truncated, as MLflow's own server does
(the ``mlflow`` client relies on it and sends long values as they are); the body limits below
still bound what can be sent at all.

MLflow's numbers are MLflow's (``mlflow/utils/validation.py``); the others are Ember's.
"""

from __future__ import annotations

from collections.abc import Mapping

from ember.errors import InvalidInputError

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

# --- whole request bodies (413 past them; enforced by ember.server.body_limit) ---------------
# Every body that is not an upload: the REST API's and the MLflow protocol's JSON.
MAX_JSON_BODY_BYTES = 4 * MiB
# Uploads: code and input snapshots, job output files, MLflow artifacts.
MAX_UPLOAD_BYTES = 10 * GiB
# One chunk of a job's log sent by its runner (the runner sends at most 1 MiB at a time).
MAX_LOG_CHUNK_BYTES = 8 * MiB

# --- MLflow tracking (MLflow's own limits; enforced by ember.tracking.validation) ------------
MAX_BATCH_LOG_REQUEST_BYTES = 1_000_000   # a runs/log-batch body; 400 past it, as MLflow
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
MAX_KEY_LENGTH = 250                      # metric, param and tag keys (refused past it)
MAX_PARAM_VALUE_LENGTH = 6000             # truncated past it, as MLflow
MAX_TAG_VALUE_LENGTH = 8000               # truncated past it, as MLflow
MAX_EXPERIMENT_NAME_LENGTH = 500
MAX_EXPERIMENT_TAG_VALUE_LENGTH = 20000
MAX_RUNS_PER_SEARCH = 50000
MAX_BULK_INTERVAL_RUNS = 100
MAX_BULK_INTERVAL_RESULTS = 2500

# --- Ember's resources (jobs, assets, endpoints, models) ----------------------------------------
MAX_NAME_LENGTH = 255                     # resource names (see ember.entities.names)
MAX_DISPLAY_NAME_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 8000             # = MLflow's tag value: a description is a run tag
MAX_TAGS = 100                            # tags of one resource (= MLflow's tags per request:
MAX_PROPERTIES = 100                      # a job's tags become its run's tags in one request)
MAX_TAG_KEY_LENGTH = MAX_KEY_LENGTH
MAX_TAG_LENGTH = MAX_TAG_VALUE_LENGTH     # a tag or property value
# A command runs as one `bash -c` argument, and Linux refuses a single argument over 128 KiB;
# half of it leaves room for ${{inputs.*}} substitution.
MAX_COMMAND_LENGTH = 64 * KiB
MAX_JOB_INPUTS = 100
# distribution x resources.instance_count: the processes one job starts, all on this machine
MAX_JOB_PROCESSES = 64
MAX_JOB_OUTPUTS = 100
MAX_ENVIRONMENT_VARIABLES = 1000
MAX_ENVIRONMENT_VARIABLE_LENGTH = 32 * KiB
MAX_TEXT_LENGTH = 64 * KiB                # any other free-text field (paths, URIs, settings)


def check_length(what: str, value: str | None, limit: int) -> None:
    """Refuse a string longer than ``limit`` characters, naming the field."""
    if value is not None and len(value) > limit:
        raise InvalidInputError(f"{what} is {len(value)} characters long; the limit is {limit}")


def check_mapping(what: str, items: Mapping[str, object], max_items: int,
                  max_key: int = MAX_TAG_KEY_LENGTH, max_value: int = MAX_TAG_LENGTH) -> None:
    """Refuse a map with too many entries, or a key or string value that is too long."""
    if len(items) > max_items:
        raise InvalidInputError(f"{what} has {len(items)} entries; the limit is {max_items}")
    for key, value in items.items():
        check_length(f"a key of {what}", key, max_key)
        if isinstance(value, str):
            check_length(f"{what}[{key[:50]!r}]", value, max_value)
