"""MLflow-compatible tracking: entities, search syntax, validation, wire format and the service.

Kept import-free so that the store layer can import ``ember.tracking.entities`` without
pulling in the service.
"""
