"""``ember``: mirrors ``az ml``. Errors are one line and a non-zero exit (``--debug`` for more)."""

from __future__ import annotations

import sys

import typer

from ember.cli import (batch_deployment, batch_endpoint, common, component, data, datastore,
                       environment, job, model, online_deployment, online_endpoint, server,
                       workspace)

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
app.add_typer(datastore.app, name="datastore")
app.add_typer(workspace.app, name="workspace")
app.add_typer(server.app, name="server")

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


def main() -> None:
    from ember.errors import EmberError

    try:
        code = app(standalone_mode=False)
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
    except Exception as exc:  # click usage errors and the unexpected: one line, no traceback
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Abort):
            sys.exit(1)
        if _debug or "--debug" in sys.argv:
            raise
        typer.echo(f"Error: {type(exc).__name__}: {exc}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
