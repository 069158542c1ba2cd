"""Tracking store interface: MLflow experiments, runs, params, tags and metrics."""
