"""The prompt flow engine: ``flow.dag.yaml`` flows run unchanged (promptflow's DAG format).

Layout (one module per concern; see ARCHITECTURE.md):

- ``dag.py`` — the flow definition as dataclasses (inputs, outputs, nodes, variants).
- ``loader.py`` — ``flow.dag.yaml`` → ``Flow`` with file:line:key errors; variants applied,
  ``additional_includes`` resolved, the graph checked (missing nodes, cycles, aggregation rules).
- ``references.py`` — the ``${inputs.x}`` / ``${node.output.a[0]}`` grammar and its resolution.
- ``tools.py`` — Python tools: load the ``@tool`` function of a node's source file, its input
  types and connection parameters, literal conversion.
- ``promptflow_compat/`` — ``promptflow.core``, ``promptflow.connections``, ``promptflow.tracing``
  ... served to user code when the real promptflow is not installed.
- ``executor.py`` — one line of a flow (nodes run as soon as their inputs are ready, independent
  nodes concurrently, ``activate`` and bypassing) and the aggregation nodes over many lines.
- ``llm.py`` — the ``llm`` and ``prompt`` node types (Jinja2 in a sandbox, the ``# role:`` chat
  format, the ``openai`` client, retries with backoff, streaming).
- ``connections.py`` — connection objects (OpenAI, Azure OpenAI, custom) and where they come from.
- ``trace.py`` — spans of a flow run, exported as MLflow traces (OTLP JSON to ``/v1/traces``).

Nothing here imports the server, the client or the engine: the CLI runs a flow in its own process
(``ember pf flow test``), a batch run's job runs it in the job's process, and a flow deployment's
worker runs it behind the router.
"""
