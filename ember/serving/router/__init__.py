"""The endpoint router: its own process (``python -m ember.serving.router``, see ``__main__``).

``app.py`` (the raw ASGI app: key auth, weighted split, mirror, concurrency slots and queue,
timeouts, the admin surface), ``asgi.py`` (request and response helpers), ``table.py`` (the
routing table the control plane pushes), ``upstream.py`` (keep-alive HTTP/1.1 connections to the
workers), ``metrics.py`` (counts, latency percentiles and usage per key, Prometheus text),
``collect.py`` (payload collection), ``llm.py`` (the language-model paths: usage reports, the
event-stream relay) and ``limits.py`` (requests and tokens per minute). The contract with the
server and the workers is :mod:`ember.serving.protocol`.
"""
