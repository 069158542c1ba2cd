"""One line of the audit log: who did what to which resource, when, from where, and how it
ended. Written for every mutating request and every denied one; never changed."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class AuditEntry:
    time: float
    user: str              # the caller, "" when no one was authenticated
    action: str            # "<METHOD> <route template>", e.g. "POST /api/v1/workspaces/{workspace}/jobs"
    resource: str          # the request's path
    outcome: int           # the HTTP status answered
    client: str = ""       # the client's address
    workspace: str = ""    # "" for server-level routes
    principal: str = ""    # "user", "job <name>", ... (Principal.kind and subject)
    id: int | None = None
