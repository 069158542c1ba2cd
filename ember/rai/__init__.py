"""Ember's Responsible AI components: the ``rai_tabular_*`` built-ins of the ``azureml``
registry, each a ``python -m ember.rai.<module>`` command.

- ``constructor`` (``rai_tabular_insight_constructor``): reads the MLflow model (sklearn flavor)
  and the train/test MLTables, checks them, and writes the *insights folder* the others read;
- ``explanation`` (shap), ``erroranalysis`` (a scikit-learn decision tree on the model's errors,
  as the erroranalysis package grows its surrogate), ``counterfactual`` (dice-ml), ``causal``
  (econml's CausalAnalysis): each writes one insight folder;
- ``gather``: the insights into the dashboard (``dashboard.json``, ``ux.json``) and an HTML
  report that opens offline (plotly.js inlined from the ``plotly`` package);
- ``scorecard``: the PDF score card of ``pdf_generation_config`` (fairlearn's MetricFrame per
  sensitive group; reportlab).

The libraries are the ``rai`` extra, imported where used (:mod:`ember.rai._deps`). A failure is
one line on stderr naming the input, and exit status 2.
"""
