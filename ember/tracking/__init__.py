"""MLflow-compatible tracking: entities, search syntax, validation, wire format and the service.

Kept import-free so that the store layer can import ``ember.entities.tracking`` without
pulling in the service.
"""
