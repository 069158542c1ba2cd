"""ORM-free table definitions (SQLAlchemy Core). Alembic migrations create exactly these."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData()

workspaces = Table(
    "workspaces",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("display_name", String(255), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("creation_time", Float, nullable=False),
    Column("deleted_at", Float, nullable=True),
)

datastores = Table(
    "datastores",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("root", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("is_default", Boolean, nullable=False, default=False),
    Column("creation_time", Float, nullable=False),
)

computes = Table(
    "computes",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("address", Text, nullable=False, default=""),
    Column("max_concurrent_jobs", Integer, nullable=True),
    Column("resources", JSON, nullable=False, default=dict),
    Column("tags", JSON, nullable=False, default=dict),
    Column("creation_time", Float, nullable=False),
)

data_versions = Table(
    "data_versions",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("type", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("creation_time", Float, nullable=False),
    Column("seq", Integer, nullable=False, default=0),
)

environment_versions = Table(
    "environment_versions",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("seq", Integer, nullable=False, default=0),
)

component_versions = Table(
    "component_versions",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("version", String(64), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("seq", Integer, nullable=False, default=0),
    Column("archived", Boolean, nullable=False, default=False),
)

registered_models = Table(
    "registered_models",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Column("last_version", Integer, nullable=False, default=0),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("type", String(32), nullable=False),
    Column("path", Text, nullable=False),
    Column("source", Text, nullable=False, default=""),
    Column("run_id", String(255), nullable=False, default=""),
    Column("model_id", String(255), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("properties", JSON, nullable=False, default=dict),
    Column("flavors", JSON, nullable=False, default=dict),
    Column("stage", String(32), nullable=False, default="None"),
    Column("status", String(32), nullable=False, default="READY"),
    Column("archived", Boolean, nullable=False, default=False),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ix_model_versions_run", "workspace", "run_id"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("alias", String(255), primary_key=True),
    Column("version", Integer, nullable=False),
)

online_endpoints = Table(
    "online_endpoints",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("primary_key", String(128), nullable=False),
    Column("secondary_key", String(128), nullable=False),
    Column("creation_time", Float, nullable=False),
)

online_deployments = Table(
    "online_deployments",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("endpoint", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

serverless_endpoints = Table(
    "serverless_endpoints",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("primary_key", String(128), nullable=False),
    Column("secondary_key", String(128), nullable=False),
    Column("creation_time", Float, nullable=False),
)

# A connection's non-secret fields (``spec``: configs, secret names, tags) in clear, its
# secrets as one Fernet token the store never opens (services/_secrets.py).
connections = Table(
    "connections",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("type", String(64), nullable=False),
    Column("spec", JSON, nullable=False),
    Column("secrets", Text, nullable=False),
    Column("creation_time", Float, nullable=False),
    Column("last_modified_time", Float, nullable=False),
)

batch_endpoints = Table(
    "batch_endpoints",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

batch_deployments = Table(
    "batch_deployments",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("endpoint", String(255), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("creation_time", Float, nullable=False),
)

jobs = Table(
    "jobs",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("workspace", String(255), ForeignKey("workspaces.name"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("display_name", String(255), nullable=False, default=""),
    Column("experiment_name", String(500), nullable=False),
    Column("parent_job_name", String(255), nullable=True),
    Column("spec", JSON, nullable=False),
    Column("runner", JSON, nullable=False, default=dict),
    Column("error", Text, nullable=True),
    Column("creation_time", Float, nullable=False),
    Column("start_time", Float, nullable=True),
    Column("end_time", Float, nullable=True),
    Column("reuse_key", String(64), nullable=True),
    # A server default (not a Python one), as the migration adds it: rows written without it
    # (by code older than the column) read as not archived.
    Column("is_archived", Boolean, nullable=False, server_default=false()),
    # who submitted the job (the job list filters on it); None on jobs older than the column
    Column("submitter", String(255), nullable=True),
    Index("ix_jobs_workspace_created", "workspace", "creation_time"),
    Index("ix_jobs_status", "status"),
    Index("ix_jobs_reuse", "workspace", "reuse_key"),
    Index("ix_jobs_parent", "workspace", "parent_job_name"),
)

job_status_changes = Table(
    "job_status_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_name", String(255), ForeignKey("jobs.name"), nullable=False, index=True),
    Column("status", String(32), nullable=False),
    Column("time", Float, nullable=False),
    Column("reason", Text, nullable=False, default=""),
)

# --- tracking (MLflow) ---

experiments = Table(
    "experiments",
    metadata,
    Column("experiment_id", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(255), ForeignKey("workspaces.name"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("creation_time", BigInteger, nullable=False),
    Column("last_update_time", BigInteger, nullable=False),
    Index("ux_experiments_ws_name", "workspace", "name", unique=True),
)

experiment_tags = Table(
    "experiment_tags",
    metadata,
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False,
           index=True),
    Column("workspace", String(255), ForeignKey("workspaces.name"), nullable=False),
    Column("name", String(500), nullable=False, default=""),
    Column("user_id", String(255), nullable=False, default=""),
    Column("status", String(32), nullable=False),
    Column("start_time", BigInteger, nullable=True),
    Column("end_time", BigInteger, nullable=True),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("artifact_uri", Text, nullable=False),
    Column("deleted_time", BigInteger, nullable=True),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(255), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

run_tags = Table(
    "run_tags",
    metadata,
    Column("run_id", String(255), ForeignKey("runs.run_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False, default=0),
    Column("is_nan", Boolean, nullable=False, default=False),
    Index("ix_metrics_run_key_step", "run_id", "key", "step", "timestamp"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(255), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Float, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
)

# --- tracking additions (revision 0002): MLflow 3 logged models, run inputs and outputs ---

logged_models = Table(
    "logged_models",
    metadata,
    Column("model_id", String(255), primary_key=True),
    Column("workspace", String(255), ForeignKey("workspaces.name"), nullable=False),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("name", String(500), nullable=False),
    Column("artifact_location", Text, nullable=False),
    Column("creation_timestamp_ms", BigInteger, nullable=False),
    Column("last_updated_timestamp_ms", BigInteger, nullable=False),
    Column("status", String(64), nullable=False),
    Column("lifecycle_stage", String(32), nullable=False, default="active"),
    Column("model_type", String(500), nullable=True),
    Column("source_run_id", String(255), nullable=True),
    Column("status_message", Text, nullable=True),
    Index("ix_logged_models_exp_created", "experiment_id", "creation_timestamp_ms"),
)

logged_model_tags = Table(
    "logged_model_tags",
    metadata,
    Column("model_id", String(255), ForeignKey("logged_models.model_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_params = Table(
    "logged_model_params",
    metadata,
    Column("model_id", String(255), ForeignKey("logged_models.model_id"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

logged_model_metrics = Table(
    "logged_model_metrics",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model_id", String(255), nullable=False),
    Column("run_id", String(255), nullable=False),
    Column("key", String(250), nullable=False),
    Column("value", Float, nullable=True),
    Column("timestamp", BigInteger, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("is_nan", Boolean, nullable=False, default=False),
    Column("dataset_name", String(500), nullable=True),
    Column("dataset_digest", String(36), nullable=True),
    Index("ix_logged_model_metrics_model", "model_id", "key"),
)

run_inputs = Table(
    "run_inputs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(255), ForeignKey("runs.run_id"), nullable=False),
    Column("kind", String(16), nullable=False),  # "dataset" or "model"
    Column("ref", String(600), nullable=False),  # dataset name + digest, or the model id
    Column("payload", JSON, nullable=False),
    Index("ux_run_inputs_ref", "run_id", "kind", "ref", unique=True),
)

run_outputs = Table(
    "run_outputs",
    metadata,
    Column("run_id", String(255), ForeignKey("runs.run_id"), primary_key=True),
    Column("model_id", String(255), primary_key=True),
    Column("step", BigInteger, nullable=False, default=0),
)

# --- MLflow 3 traces (revision 0010) ---
# A trace is (workspace, trace_id): the same id in another workspace is another trace. The
# children point at the integer key, so tag and metadata filters are one EXISTS on one column.

traces = Table(
    "traces",
    metadata,
    Column("trace_key", Integer, primary_key=True, autoincrement=True),
    Column("workspace", String(255), ForeignKey("workspaces.name"), nullable=False),
    Column("trace_id", String(64), nullable=False),
    Column("experiment_id", Integer, ForeignKey("experiments.experiment_id"), nullable=False),
    Column("request_time", BigInteger, nullable=False),
    Column("execution_duration", BigInteger, nullable=True),
    Column("state", String(32), nullable=False),
    Column("request_preview", Text, nullable=True),
    Column("response_preview", Text, nullable=True),
    Column("client_request_id", String(255), nullable=True),
    Index("ux_traces_ws_trace", "workspace", "trace_id", unique=True),
    Index("ix_traces_exp_time", "experiment_id", "request_time"),
)

trace_spans = Table(
    "trace_spans",
    metadata,
    Column("trace_key", Integer, ForeignKey("traces.trace_key"), primary_key=True),
    Column("span_id", String(16), primary_key=True),
    Column("parent_span_id", String(16), nullable=True),
    Column("name", Text, nullable=False),
    Column("span_type", String(64), nullable=True),
    Column("status", String(16), nullable=False),
    Column("start_time_ns", BigInteger, nullable=False),
    Column("end_time_ns", BigInteger, nullable=True),
    # The span's mlflow.chat.tokenUsage (JSON text), apart: re-summarising a trace as its spans
    # arrive reads every span's, but only the root's whole content.
    Column("token_usage", Text, nullable=True),
    # {"attributes": {key: JSON text}, "events": [...], "status_message": str, "kind": int}
    Column("content", JSON, nullable=False),
)

trace_tags = Table(
    "trace_tags",
    metadata,
    Column("trace_key", Integer, ForeignKey("traces.trace_key"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

trace_metadata = Table(
    "trace_metadata",
    metadata,
    Column("trace_key", Integer, ForeignKey("traces.trace_key"), primary_key=True),
    Column("key", String(250), primary_key=True),
    Column("value", Text, nullable=False),
)

# --- the team server: users, tokens (hashes only), role assignments, the audit log ---

auth_users = Table(
    "auth_users",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("password_hash", String(512), nullable=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("disabled", Boolean, nullable=False, default=False),
    Column("creation_time", Float, nullable=False),
)

auth_tokens = Table(
    "auth_tokens",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user", String(255), nullable=False, index=True),
    Column("name", String(255), nullable=False, default=""),
    Column("kind", String(32), nullable=False),
    Column("workspace", String(255), nullable=True),
    Column("subject", String(512), nullable=True, index=True),
    Column("grants", JSON, nullable=False, default=list),
    Column("creation_time", Float, nullable=False),
    Column("expires_at", Float, nullable=True),
    Column("revoked_at", Float, nullable=True),
)

auth_role_assignments = Table(
    "auth_role_assignments",
    metadata,
    Column("user", String(255), primary_key=True),
    Column("workspace", String(255), primary_key=True),
    Column("role", String(64), primary_key=True),
    Column("creation_time", Float, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False, index=True),
    Column("user", String(255), nullable=False, index=True),
    Column("principal", String(600), nullable=False, default=""),
    Column("workspace", String(255), nullable=False, default="", index=True),
    Column("action", String(600), nullable=False),
    Column("resource", Text, nullable=False),
    Column("outcome", Integer, nullable=False),
    Column("client", String(255), nullable=False, default=""),
)

# A user registry; its assets are those of its backing workspace (entities/registries.py).
registries = Table(
    "registries",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("description", Text, nullable=False, default=""),
    Column("tags", JSON, nullable=False, default=dict),
    Column("creation_time", Float, nullable=False),
)

# A schedule (``spec``: its JSON form), with the columns the scheduler loop reads and
# compare-and-sets: ``next_fire_time`` moves on only where it still holds the value read, so
# of several server processes on one database one fires each trigger.
schedules = Table(
    "schedules",
    metadata,
    Column("workspace", String(255), ForeignKey("workspaces.name"), primary_key=True),
    Column("name", String(255), primary_key=True),
    Column("spec", JSON, nullable=False),
    Column("is_enabled", Boolean, nullable=False),
    Column("next_fire_time", Float, nullable=True, index=True),
    Column("creation_time", Float, nullable=False),
)

# Each trigger fired: the primary key (schedule, fire time) refuses a second fire.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    Column("workspace", String(255), primary_key=True),
    Column("schedule", String(255), primary_key=True),
    Column("fire_time", Float, primary_key=True),
    Column("job_name", String(255), nullable=False),
    Column("missed", Boolean, nullable=False),
    Column("error", Text, nullable=True),
    # False from the claim until the job is made (or refused): a crash in between leaves it
    # False, and the next start-up submits it (the job's name makes that idempotent).
    Column("done", Boolean, nullable=False),
)
