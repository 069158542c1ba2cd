"""What the control plane, the endpoint router and the deployment workers exchange.

Three kinds of process:

- the **workspace server** (control plane) keeps endpoints and deployments in the store, starts
  and watches worker processes (``serving/supervisor.py``), and pushes the routing table to the
  router whenever it changes;
- the **router** (``python -m ember.serving.router``, its own process so inference traffic
  cannot starve the control API) answers ``POST /endpoints/<workspace>/<endpoint>/score``,
  checks keys, splits traffic, mirrors, enforces request settings, records metrics and
  collects payloads;
- **workers** (``python -m ember.serving.worker <config.json>``, stdlib only at import time so
  they run in any environment) load one model and answer ``POST /score``.

All of it is plain HTTP/1.1 on loopback with keep-alive; bodies carry ``Content-Length``.

Worker HTTP surface
    GET  /          liveness: 200 as soon as the HTTP loop answers, while run() can be entered.
                    503 ``{"error_code": "STUCK", "message": ...}`` when the run() call in
                    progress has held the worker (scoring scripts run one call at a time) for
                    longer than ``request_timeout_ms``: the router already answered that
                    request 504, and every later call would wait behind it. A thread cannot be
                    stopped, so the supervisor replaces such a worker (liveness settings).
    GET  /ready     readiness: 200 ``{"ready": true}`` once ``init()`` (or the MLflow model
                    load) has succeeded; 503 before. If init fails the worker logs the error
                    and exits with status 3.
    POST /score     the request body goes to the model; 200 with the JSON result.
                    400 ``{"error_code": "BAD_REQUEST", "message": ...}`` for a payload the
                    model refuses (MLflow: no ``input_data``, or the signature check failed);
                    500 ``{"error_code": "USER_ERROR", "message": "<Type>: <msg>"}`` when the
                    scoring script raises (the traceback goes to the worker's log, stderr).
    The worker writes its bound port to ``port_file`` (atomically: write a temp file, rename)
    once it listens; it binds ``host``:``port`` (port 0 = any free port).

Router admin surface (header ``X-Ember-Admin: <admin token>``; 403 otherwise)
    PUT  /-/routes      body: a :class:`RouteTable`; replaces the table atomically. Requests
                        already forwarded finish on the instance they went to.
    GET  /-/inflight    ``{"<host:port>": n}``: requests now in flight per instance.
    GET  /-/metrics     ``{"<ws>/<endpoint>": {"<deployment>": DeploymentMetrics}, "usage":
                        {"<ws>/<endpoint>": {"primary"|"secondary": {"requests",
                        "prompt_tokens", "completion_tokens"}}}, "usage_history":
                        {"<ws>/<endpoint>": [{"minute", "requests", "prompt_tokens",
                        "completion_tokens"}]}}`` (per minute, all keys, the last 24 h).
    GET  /-/metrics/prometheus   the same as Prometheus text exposition.
    GET  /-/health      200.
    The router writes its port to ``port_file`` like a worker; its admin token comes from
    the environment variable ``EMBER_ROUTER_TOKEN``.

Scoring surface
    POST /endpoints/<ws>/<endpoint>/score
        ``Authorization: Bearer <key>`` (primary or secondary) → else 401.
        Header ``azureml-model-deployment: <d>`` sends to that deployment (404 if unknown),
        bypassing traffic weights and mirroring. Otherwise a deployment is drawn by
        ``traffic`` weights; all weights 0 → 404 "no deployment receives traffic".
        ``mirror_traffic`` {d: pct}: that share of requests is also sent to d, in the
        background; its response is ignored (but counted in d's metrics).
        Within a deployment, the instance with the fewest requests in flight is taken; when all
        have ``max_concurrent_requests_per_instance`` in flight the request waits up to
        ``max_queue_wait_ms`` for a free slot, else 429. No answer within
        ``request_timeout_ms`` → 504, and the instance is set aside (no request is sent to it)
        until its ``GET /`` answers 200 again or the table drops it; when every instance is set
        aside, 503 after ``max_queue_wait_ms``. Instance unreachable → the next instance is
        tried once, then 502. The worker's status and body are passed through otherwise.
        The response carries header ``azureml-model-deployment: <d>``.
Language-model workers (``kind: "llm"``; ``python -m ember.serving.llm.worker <config.json>``)
    A deployment of a language model (catalog or workspace; no scoring script) runs this
    worker instead: it loads the model into a runtime (llama.cpp for GGUF files, transformers
    for Hugging Face folders) that batches concurrent requests, and answers, besides ``GET /``
    and ``GET /ready`` as above (``/`` never answers 503: requests are not serialised):
        POST /v1/chat/completions, /v1/completions, /v1/embeddings   OpenAI's API
        GET  /v1/models          the model, and each LoRA adapter with ``parent``
        POST /chat/completions, /completions, /embeddings   Azure's model inference API
        GET  /info               ``{"model_name", "model_type", "model_provider_name"}``
        POST /score              Azure's ``{"input_data": {"input_string": [...],
                                 "parameters": {...}}}`` → ``[{"0": "<text>"}, ...]``
    Header ``extra-parameters: error | pass-through | ignore | drop`` (default ``error``):
    with ``error`` an unknown body key is a 422 naming it.
    Errors use OpenAI's shape ``{"error": {"message", "type", "param", "code"}}`` with the HTTP
    status; a prompt longer than the context is a 400 stating both lengths.
    Usage, for the router's metering: a JSON answer carries header
    ``x-ember-usage: <prompt_tokens> <completion_tokens>``; a stream (``text/event-stream``,
    chunked, one SSE event per chunk, ``data: [DONE]`` last) sends the comment event
    ``: usage <prompt_tokens> <completion_tokens>`` just before ``[DONE]`` (SSE clients skip
    comments). Both are sent whether or not the client asked for usage.

Flow workers (``kind: "flow"``; ``python -m ember.serving.flow.worker <config.json>``)
    A deployment whose model is a folder holding ``flow.dag.yaml`` (a ``custom_model``) and
    that has no scoring script runs this worker on the server's Python: it loads the flow
    (``ember.flows``) and answers, besides ``GET /`` (never 503: requests overlap on one event
    loop) and ``GET /ready`` as above, promptflow's serving surface:
        POST /score          a JSON object keyed by flow input names (a flow with one input
                             also takes any other body as that input); 200 with the outputs
                             keyed by output name. ``Accept: text/event-stream`` and a
                             generator output: a chunked SSE answer, one event
                             ``data: {"<output>": "<delta>"}`` per piece (the other outputs
                             first, in one event; a failure mid-stream is a last event
                             ``data: {"error": {...}}``); else generators are joined. An
                             ``Accept`` naming neither JSON nor the stream: 406.
        GET  /health         ``{"status": "Healthy", "version"}``; ``GET /version`` the same
                             with ``build_info``; ``GET /swagger.json`` an OpenAPI document.
    Errors use promptflow's shape ``{"error": {"code": "UserError"|"SystemError",
    "message"}}``: 400 for a missing or ill-typed input (naming it), 500 ``UserError`` for a
    failed node (``Execution failure in '<node>': (<Type>) <msg>``; the traceback goes to the
    worker's log), 500 ``SystemError`` when the engine itself fails, 504 past
    ``request_timeout_ms``. Connections are read from the server (``listsecrets``, found
    through ``server_file``) when a node first needs them, never written to disk; environment
    variables ``<CONN>_<KEY>`` override their fields. With ``MLFLOW_EXPERIMENT_ID`` among the
    deployment's environment variables each request's spans go, from a background thread, to
    that experiment's traces (``MLFLOW_TRACKING_URI``, else the server's workspace).
    ``ember pf flow serve`` serves the same surface in the foreground
    (``serving/flow/worker.py``: ``serve_flow``).

Router, for language-model endpoints
    Every path under ``/endpoints/<ws>/<endpoint>/`` other than ``score`` that the worker
    surface above lists (``v1/...``, ``chat/completions``, ``completions``, ``embeddings``,
    ``info``) is forwarded verbatim (query string and ``extra-parameters`` header included) to
    an instance drawn as for ``/score``; keys are checked the same way and may also come in
    ``api-key``. On these paths the router's own errors use OpenAI's error shape. A
    ``text/event-stream`` answer is relayed chunk by chunk as it arrives; if the worker goes
    away mid-stream the client gets a last event ``data: {"error": {...}}`` (the ``openai``
    client raises it) and the body ends without ``[DONE]``. ``request_timeout_ms`` bounds the
    wait for the answer's head and then each gap between chunks.
    Metering: per endpoint and per key (``primary``/``secondary``) the router counts
    requests, prompt tokens and completion tokens (from ``x-ember-usage`` or the ``: usage``
    event); ``GET /-/metrics`` gives them under ``"usage"``, Prometheus as
    ``ember_endpoint_tokens_total{endpoint,key,kind="prompt|completion"}`` and
    ``ember_endpoint_requests_total{endpoint,key}``.
    Limits: an endpoint route with ``limits: {"tokens_per_minute": n, "requests_per_minute":
    n}`` answers 429 with ``Retry-After: <seconds>`` once the last 60 s hold that many requests
    or tokens (prompt + completion, counted when each answer ends).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, TypedDict

# Workers answer their scoring routes only with the router's secret in this header; the
# supervisor passes it to each worker in this variable (which the worker removes at start).
WORKER_KEY_HEADER = "x-ember-worker-key"
WORKER_KEY_ENV = "EMBER_WORKER_KEY"


def worker_key(admin_token: str) -> str:
    """The secret the router sends its workers: derived from its admin token (which both the
    router and the supervisor hold, and which ``serving/state.json`` keeps across a server
    restart), one way, so a worker's code that reads it cannot take the router's admin
    surface."""
    return hmac.new(admin_token.encode("utf-8"), b"ember-worker-key",
                    hashlib.sha256).hexdigest()


class WorkerConfig(TypedDict, total=False):
    workspace: str
    endpoint: str
    deployment: str
    kind: str                  # "mlflow" (no-code MLflow model) | "script" (init/run)
    model_dir: str | None      # AZUREML_MODEL_DIR: the registered folder/file sits under it
    model_path: str | None     # mlflow: the folder holding MLmodel
    code_dir: str | None       # script: folder with the scoring script, put on sys.path/cwd
    scoring_script: str | None  # script: path of the script relative to code_dir
    environment_variables: dict[str, str]
    host: str
    port: int
    port_file: str
    request_timeout_ms: int    # the deployment's; a run() held longer makes GET / answer 503
    # script: the collections a scoring script logs to with azureml.ai.monitoring's Collector:
    # {"collections": {name: local folder}, "sampling_rate", "endpoint", "deployment"}
    data_collections: dict[str, Any]


class LlmWorkerConfig(TypedDict, total=False):
    """``kind: "llm"``: the common keys of :class:`WorkerConfig`, and the model's."""
    workspace: str
    endpoint: str
    deployment: str
    environment_variables: dict[str, str]
    host: str
    port: int
    port_file: str
    request_timeout_ms: int
    kind: str                  # "llm"
    model_name: str            # the id answered in /v1/models and every response's "model"
    model_path: str            # a GGUF file (llama.cpp) or a Hugging Face folder
    runtime: str               # "llama.cpp" | "transformers"
    task: str                  # "chat-completion" | "text-generation" | "embeddings"
    context_length: int        # the longest prompt + completion a request may have
    threads: int               # CPU threads for the runtime (1 in tests)
    max_sequences: int         # requests decoded together in one batch
    adapters: dict[str, str]   # LoRA adapter name -> folder (loaded on first use)
    adapter_cache_size: int    # adapters kept loaded at once (least recently used leaves)
    adapters_index: str        # JSON {adapters, versions} the control plane keeps current
                               # (serving/llm_adapters.py): adapters registered after start
    kv_blocks: int             # transformers: KV cache pages of 256 tokens (CPU; a GPU sizes it)
    max_batch_tokens: int      # transformers: tokens one continuous-batching step may hold
    device: str                # transformers: "cpu" | "cuda" (default: cuda when available)
    conversion_cache: str      # transformers serving a GGUF file: where its Hugging Face copy
                               # is made once (ember/finetune/convert.py), shared with training


class FlowWorkerConfig(TypedDict, total=False):
    """``kind: "flow"``: the common keys of :class:`WorkerConfig`, and the flow's."""
    workspace: str
    endpoint: str
    deployment: str
    environment_variables: dict[str, str]
    host: str
    port: int
    port_file: str
    request_timeout_ms: int    # a line still running after this is cancelled (504)
    kind: str                  # "flow"
    model_dir: str             # AZUREML_MODEL_DIR
    flow_dir: str              # the folder holding flow.dag.yaml
    variant: str | None        # "${node.variant_id}", or None for the defaults
    server_file: str           # the server's server.json: where to read connections from
    server_url: str | None     # used when server_file names no server
    notes: list[str]           # lines the worker prints to the deployment log at start

class DeploymentRoute(TypedDict):
    instances: list[str]                   # "127.0.0.1:port" of each ready worker, or
                                           # "host:port/<app>#<n>": a Ray Serve replica
    max_concurrent_requests_per_instance: int
    request_timeout_ms: int
    max_queue_wait_ms: int
    collect_request: str | None            # folder to append sampled request payloads to
    collect_response: str | None
    sampling_rate: float


class EndpointLimits(TypedDict, total=False):
    tokens_per_minute: int
    requests_per_minute: int


class EndpointRoute(TypedDict, total=False):
    key_hashes: list[str]                  # sha256 hex of each valid key (primary first)
    traffic: dict[str, int]                # deployment → percent (sum 0 or 100)
    mirror_traffic: dict[str, int]         # deployment → percent copied
    deployments: dict[str, DeploymentRoute]
    limits: EndpointLimits                 # optional: rate limits (429 + Retry-After)


class RouteTable(TypedDict):
    endpoints: dict[str, EndpointRoute]    # "<workspace>/<endpoint>" → route


class DeploymentMetrics(TypedDict):
    request_count: int
    error_count: int                       # responses with status >= 400 (and failures)
    latency_ms_p50: float | None
    latency_ms_p95: float | None
    latency_ms_p99: float | None
    status_counts: dict[str, int]          # "200", "429", ... → count
