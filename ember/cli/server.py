from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import typer

from ember.cli.output import OutputOpt, emit

app = typer.Typer(help="Run or manage the workspace server.", no_args_is_help=True)


@app.command("start")
def start(
    host: str = typer.Option("127.0.0.1", help="Address to bind; loopback unless told otherwise."),
    port: int = typer.Option(5717, help="Port to listen on (0 picks a free one)."),
    store_url: str = typer.Option("", help="sqlite:///path or postgresql://... (default: "
                                  "EMBER_STORE_URL, else SQLite under EMBER_HOME). A password "
                                  "here is visible to every local user in ps: use "
                                  "EMBER_STORE_URL or --store-url-file instead."),
    store_url_file: Path = typer.Option(None, help="A file (mode 0600) holding the store URL, "
                                        "so its password is not on the command line."),
    artifacts_url: str = typer.Option("", help="Local folder or fsspec URL for artifacts."),
    home: Path = typer.Option(None, help="State folder (default: EMBER_HOME or ~/.ember)."),
    max_concurrent_jobs: int = typer.Option(4, help="Jobs run at once; more wait Queued."),
    serving_port: int = typer.Option(None, help="Port of the endpoint router (scoring URIs; "
                                     "default: --port + 1, or a free one with --port 0)."),
    allowed_datastore_root: list[Path] = typer.Option(
        None, help="A folder datastores may be rooted under (repeatable; also "
        "EMBER_ALLOWED_DATASTORE_ROOTS, colon separated; default: the folder the server starts "
        "in). The server's home and other workspaces' folders are never allowed."),
    admin_user: str = typer.Option("", "--admin-user", help="Make (or update) this server "
                                   "admin at start-up; its password in EMBER_ADMIN_PASSWORD."),
    no_auth: bool = typer.Option(False, "--no-auth", help="Serve without authentication: "
                                 "loopback only (the server refuses otherwise)."),
    job_user: str = typer.Option("", "--job-user", help="Run every job as this OS user, out "
                                 "of reach of the server's files (the server must run as "
                                 "root)."),
    public_url: str = typer.Option("", "--public-url", help="The URL other machines reach this "
                                   "server at (jobs on a Ray compute report there; default: "
                                   "EMBER_PUBLIC_URL, else http://<host>:<port>)."),
    log_level: str = typer.Option("warning"),
) -> None:
    """Run the server in the foreground."""
    from ember.server.serve import serve
    from ember.services.datastore_roots import parse_allowed_roots
    from ember.settings import Settings, default_home

    roots = [str(p) for p in allowed_datastore_root or []] + parse_allowed_roots(
        os.environ.get("EMBER_ALLOWED_DATASTORE_ROOTS", ""))
    settings = Settings(home=home or default_home(), host=host, port=port,
                        store_url=_store_url(store_url, store_url_file),
                        artifacts_url=artifacts_url, max_concurrent_jobs=max_concurrent_jobs,
                        serving_port=serving_port, allowed_datastore_roots=tuple(roots),
                        auth=not no_auth, admin_user=admin_user,
                        admin_password=os.environ.get("EMBER_ADMIN_PASSWORD", ""),
                        job_user=job_user)
    if public_url:
        settings = dataclasses.replace(settings, public_url=public_url)

    def ready(s: Settings) -> None:
        typer.echo(f"Ember server listening on {s.base_url} (home {s.home})", err=True)

    serve(settings, log_level=log_level, on_ready=ready)


def _store_url(given: str, path: Path | None) -> str:
    """The store URL: ``--store-url``, else ``--store-url-file``'s content, else
    ``EMBER_STORE_URL``. A password on the command line is accepted (refusing it would break
    scripts) but warned about once: ``ps`` shows it to every local user."""
    from urllib.parse import urlsplit

    from ember.settings import mask_url

    if given and path is not None:
        raise typer.BadParameter("give --store-url or --store-url-file, not both")
    if given:
        if urlsplit(given).password:
            typer.echo(f"warning: the password in --store-url {mask_url(given)} is visible to "
                       "every local user (ps, /proc); pass the URL in the EMBER_STORE_URL "
                       "environment variable or in a file given to --store-url-file instead",
                       err=True)
        return given
    if path is not None:
        try:
            return path.read_text().strip()
        except OSError as exc:
            raise typer.BadParameter(f"--store-url-file {path}: {exc.strerror}") from exc
    return os.environ.get("EMBER_STORE_URL", "").strip()


@app.command("status")
def status(home: Path = typer.Option(None), output: str = OutputOpt) -> None:
    """Say whether the embedded server is running, and where."""
    from ember.client import local

    emit(local.status(home), output)


@app.command("stop")
def stop(home: Path = typer.Option(None), output: str = OutputOpt) -> None:
    """Stop the embedded server."""
    from ember.client import local

    emit({"stopped": local.stop(home)}, output)
