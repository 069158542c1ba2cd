"""Artifact storage through fsspec, and the ``azureml://`` data URIs that point into it."""
