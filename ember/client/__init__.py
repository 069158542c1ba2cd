"""The Python SDK: MLClient and its operation groups, over HTTP only."""
