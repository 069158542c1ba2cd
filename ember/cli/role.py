"""``ember role``: role assignments in the workspace (the global ``-w/--workspace-name`` or
``EMBER_WORKSPACE``), with Azure's built-in role names: ``Owner``, ``Contributor``, ``Reader``,
``AzureML Data Scientist``..."""

from __future__ import annotations

import typer

from ember.cli.common import client
from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Role assignments in the workspace (its Owners).", no_args_is_help=True)

_COLUMNS = ["user", "workspace", "role", "creation_time"]
UserOpt = typer.Option(..., "--user", help="The user's name.")
RoleOpt = typer.Option(..., "--role", help="e.g. 'AzureML Data Scientist', Reader, Owner.")
WorkspaceOpt = typer.Option(None, "--workspace", "--workspace-name", "-w",
                            help="The workspace (default: the global one, EMBER_WORKSPACE).")
RegistryOpt = typer.Option(None, "--registry", "--registry-name",
                           help="A registry's roles instead of the workspace's ('AzureML "
                           "Registry User' reads and uses its assets).")


@app.command("assign")
def assign(user: str = UserOpt, role: str = RoleOpt, workspace: str = WorkspaceOpt,
           registry: str = RegistryOpt, output: str = OutputOpt) -> None:
    """Give a user a role in the workspace (or a registry)."""
    with client(workspace=workspace) as c:
        emit(c.registries.assign_role(registry, user, role) if registry
             else c.roles.assign(user, role), output)


@app.command("list")
def list_(user: str = typer.Option(None, "--user", help="Only this user's."),
          workspace: str = WorkspaceOpt, registry: str = RegistryOpt,
          output: str = OutputOpt) -> None:
    with client(workspace=workspace) as c:
        emit(c.registries.list_roles(registry, user) if registry else c.roles.list(user=user),
             output, _COLUMNS)


@app.command("remove")
def remove(user: str = UserOpt, role: str = RoleOpt, workspace: str = WorkspaceOpt,
           registry: str = RegistryOpt, output: str = OutputOpt) -> None:
    """Take a role from a user in the workspace (or a registry)."""
    with client(workspace=workspace) as c:
        if registry:
            c.registries.remove_role(registry, user, role)
            emit({"user": user, "registry": registry, "role": role}, output)
        else:
            emit(c.roles.remove(user, role), output)
