"""Serving prompt flows: ``app.py`` is the HTTP surface (promptflow's ``/score``, ``/health``,
``/version``, ``/swagger.json``, SSE streaming), ``worker.py`` runs it as a deployment worker
(``python -m ember.serving.flow.worker``) or in the foreground for ``ember pf flow serve``
(:func:`~ember.serving.flow.worker.serve_flow`)."""
