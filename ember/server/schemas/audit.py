from __future__ import annotations

from pydantic import BaseModel

from ember.entities.audit import AuditEntry


class AuditEntryOut(BaseModel):
    id: int | None
    time: float
    user: str
    principal: str
    workspace: str
    action: str
    resource: str
    outcome: int
    client: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditEntryOut:
        return cls(id=e.id, time=e.time, user=e.user, principal=e.principal,
                   workspace=e.workspace, action=e.action, resource=e.resource,
                   outcome=e.outcome, client=e.client)
