"""Who may do what: users, tokens, role assignments and the role table (no I/O).

A request's caller is a :class:`Principal`: a user (through one of their tokens, a password, or
the server's owner token) or a job (through the token its runner and user code were given).
Each route declares the action it needs (``read``, ``write``, ``delete``, ``manage``,
``secrets``, ``admin``); the resource kind (the workspace itself, its compute, or anything
else in it) comes from the route's path. :func:`role_allows` is the one rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

READ = "read"
WRITE = "write"
DELETE = "delete"
MANAGE = "manage"      # role assignments, the audit log
SECRETS = "secrets"    # plain connection secrets (listsecrets)
ADMIN = "admin"        # users and workspaces: server admins only
SELF = "self"          # a person's own tokens and account: any user, no job or deployment
ACTIONS = (READ, WRITE, DELETE, MANAGE, SECRETS, ADMIN, SELF)

# Resource kinds, from the route's path (see server/deps.resource_kind).
KIND_WORKSPACE = "workspace"   # the workspace itself: update, delete
KIND_COMPUTE = "compute"       # compute targets
KIND_ASSETS = "assets"         # everything else in a workspace: jobs, runs, models, ...

OWNER = "Owner"
CONTRIBUTOR = "Contributor"
DATA_SCIENTIST = "AzureML Data Scientist"
COMPUTE_OPERATOR = "AzureML Compute Operator"
READER = "Reader"
# a registry's (its assignments are on the registry's backing workspace): reads and uses its
# models, components and environments; its Owner and Contributor write them
REGISTRY_USER = "AzureML Registry User"

_ALL_KINDS = (KIND_WORKSPACE, KIND_COMPUTE, KIND_ASSETS)
_EDIT = (READ, WRITE, DELETE, SECRETS)

# Azure's built-in roles (reference azureml-next.md §6), as (kind, action) grants.
ROLES: dict[str, frozenset[tuple[str, str]]] = {
    OWNER: frozenset((k, a) for k in _ALL_KINDS for a in (*_EDIT, MANAGE)),
    CONTRIBUTOR: frozenset((k, a) for k in _ALL_KINDS for a in _EDIT),
    # everything in the workspace except managing the workspace and its compute
    DATA_SCIENTIST: frozenset({*((KIND_ASSETS, a) for a in _EDIT),
                               (KIND_WORKSPACE, READ), (KIND_COMPUTE, READ)}),
    COMPUTE_OPERATOR: frozenset({(KIND_WORKSPACE, READ),
                                 *((KIND_COMPUTE, a) for a in (READ, WRITE, DELETE))}),
    # read-only, never a secret
    READER: frozenset((k, READ) for k in _ALL_KINDS),
    REGISTRY_USER: frozenset({(KIND_WORKSPACE, READ), (KIND_ASSETS, READ)}),
}


def canonical_role(name: str) -> str | None:
    """The built-in role ``name`` names (case and spacing forgiven), or None."""
    key = " ".join(name.split()).lower()
    for role in ROLES:
        if role.lower() == key or role.lower().removeprefix("azureml ") == key:
            return role
    return None


def role_allows(roles: Iterable[str], kind: str, action: str) -> bool:
    grant = (kind, action)
    return any(grant in ROLES.get(r, frozenset()) for r in roles)


@dataclass
class User:
    name: str
    is_admin: bool = False
    disabled: bool = False
    creation_time: float = 0.0
    # "scrypt$..." (services/auth.py), never returned by the API
    password_hash: str | None = field(default=None, repr=False)


@dataclass
class Token:
    """A bearer token's record; the token itself is shown once, at creation, and stored as its
    SHA-256 only."""

    id: str
    user: str
    token_hash: str = field(repr=False)
    name: str = ""
    kind: str = "user"          # "user" | "owner" | "job" | "deployment"
    workspace: str | None = None  # job and deployment tokens: their workspace
    subject: str | None = None    # job tokens: the job; deployment tokens: endpoint/deployment
    grants: tuple[str, ...] = ()  # extra actions a job or deployment token carries ("secrets")
    creation_time: float = 0.0
    expires_at: float | None = None
    revoked_at: float | None = None


@dataclass
class RoleAssignment:
    user: str
    workspace: str
    role: str
    creation_time: float = 0.0


@dataclass(frozen=True)
class Principal:
    """The caller of one request."""

    user: str
    is_admin: bool = False
    kind: str = "user"           # as Token.kind, or "password" for basic auth
    token_id: str | None = None
    workspace: str | None = None  # job/deployment principals: the only workspace they reach
    subject: str | None = None
    grants: tuple[str, ...] = ()
    expires_at: float | None = None

    @property
    def is_workload(self) -> bool:
        """A job's or a deployment's token rather than a person's."""
        return self.kind in ("job", "deployment")

    def describe(self) -> str:
        if self.kind == "job":
            return f"job {self.subject!r} (submitted as {self.user})"
        if self.kind == "deployment":
            return f"deployment {self.subject!r}"
        return f"user {self.user!r}"
