"""The endpoint router: its own process (``python -m ember.serving.router``, see ``__main__``).

``app.py`` (the raw ASGI app: key auth, weighted split, mirror, concurrency slots and queue,
timeouts, the admin surface), ``asgi.py`` (request and response helpers), ``table.py`` (the
routing table the control plane pushes), ``upstream.py`` (keep-alive HTTP/1.1 connections to the
workers), ``metrics.py`` (counts and latency percentiles, Prometheus text) and ``collect.py``
(payload collection). The contract with the server and the workers is
:mod:`ember.serving.protocol`.
"""
