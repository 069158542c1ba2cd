"""``ember``: mirrors ``az ml``. Errors are one line and a non-zero exit (``--debug`` for more)."""

from __future__ import annotations

import sys

import typer

from ember.cli import (audit, batch_deployment, batch_endpoint, common, component, compute,
                       connection, data, datastore, environment, job, login, model, online_deployment,
                       online_endpoint, output, registry, role, schedule, server,
                       serverless_endpoint, studio, token, user, workspace)

app = typer.Typer(help="Ember: Azure ML v2 jobs and MLflow tracking on your own machines.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
app.add_typer(job.app, name="job")
app.add_typer(data.app, name="data")
app.add_typer(environment.app, name="environment")
app.add_typer(component.app, name="component")
app.add_typer(model.app, name="model")
app.add_typer(online_endpoint.app, name="online-endpoint")
app.add_typer(online_deployment.app, name="online-deployment")
app.add_typer(batch_endpoint.app, name="batch-endpoint")
app.add_typer(batch_deployment.app, name="batch-deployment")
app.add_typer(serverless_endpoint.app, name="serverless-endpoint")
app.add_typer(schedule.app, name="schedule")
app.add_typer(connection.app, name="connection")
app.add_typer(datastore.app, name="datastore")
app.add_typer(compute.app, name="compute")
app.add_typer(workspace.app, name="workspace")
app.add_typer(registry.app, name="registry")
app.add_typer(server.app, name="server")
app.add_typer(user.app, name="user")
app.add_typer(token.app, name="token")
app.add_typer(role.app, name="role")
app.add_typer(audit.app, name="audit")
app.command("login")(login.login)
app.command("logout")(login.logout)
app.command("whoami")(login.whoami)
app.command("studio")(studio.studio)

_debug = False


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    endpoint: str = typer.Option(None, "--endpoint", envvar="EMBER_ENDPOINT",
                                 help="Workspace server URL (default: the embedded server)."),
    workspace: str = typer.Option(None, "--workspace-name", "-w", envvar="EMBER_WORKSPACE",
                                  help="Workspace (default: 'default')."),
) -> None:
    global _debug
    _debug = debug
    common.configure(endpoint, workspace)


def take_query(argv: list[str]) -> tuple[list[str], str | None]:
    """Take ``--query X`` / ``--query=X`` out of ``argv`` wherever it stands: in az it is a
    global argument that any command accepts after its own options."""
    rest: list[str] = []
    query: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--query":
            if i + 1 >= len(argv):
                from ember.errors import InvalidInputError

                raise InvalidInputError("--query needs a JMESPath expression, e.g. "
                                        "--query \"[].name\"")
            query = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--query="):
            query = arg[len("--query="):]
        else:
            rest.append(arg)
        i += 1
    return rest, query


def main() -> None:
    from ember.errors import EmberError

    if sys.argv[1:2] == ["pf"]:   # promptflow's commands: argparse, see cli/pf.py
        from ember.cli.pf import main as pf_main

        sys.exit(pf_main(sys.argv[2:]))
    try:
        args, query = take_query(sys.argv[1:])
        output.set_query(query)
        code = app(args=args, prog_name="ember", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except EmberError as exc:
        if _debug or "--debug" in sys.argv:
            raise
        typer.echo(f"Error: {exc.message}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("Interrupted.", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(1)
    except typer.TyperException as exc:   # usage errors: Typer's own (vendored) click's
        show = getattr(exc, "show", None)
        if show is not None:
            show()   # "Missing option '--input' / '-i'." with the usage line
        else:
            typer.echo(f"Error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except Exception as exc:  # the unexpected: one line, no traceback
        if _debug or "--debug" in sys.argv:
            raise
        typer.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
