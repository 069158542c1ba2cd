"""Workspace-level services (workspaces, datastores, data, environments, code snapshots)."""
