"""``ember studio``: open the web studio of the server this CLI uses (the embedded one, started
if needed, or ``--endpoint``'s).

With auth on, it makes a sign-in link: a token that lives five minutes, in the URL's fragment
(``/login#token=...``), which the browser keeps to itself and the sign-in page trades for a
12-hour session. The link is printed, as Jupyter prints its own, for a browser on another
machine; ``--no-browser`` only prints it.
"""

from __future__ import annotations

import urllib.parse
import webbrowser

import typer

from ember.cli.common import client
from ember.cli.output import OutputOpt, emit

SIGN_IN_MINUTES = 5


def studio(workspace: str = typer.Option(None, "--workspace", "-w",
                                         help="The workspace to open (default: the CLI's)."),
           no_browser: bool = typer.Option(False, "--no-browser",
                                           help="Print the link; don't open a browser."),
           output: str = OutputOpt) -> None:
    """Open the studio in a browser."""
    with client(workspace=workspace) as c:
        page = f"/ws/{urllib.parse.quote(c.workspace_name, safe='')}/jobs"
        me = c.whoami()
        url = c.endpoint + page
        sign_in = None
        if me.get("kind") != "anonymous":   # auth is on: a short-lived sign-in token
            made = c.tokens.create("studio sign-in", expires_in_days=SIGN_IN_MINUTES / 1440)
            query = urllib.parse.urlencode({"next": page})
            sign_in = f"{c.endpoint}/login?{query}#token={made['token']}"
    link = sign_in or url
    if output.lower() != "table":
        emit({"url": url, "sign_in_url": sign_in, "user": me.get("user")}, output)
    else:
        typer.echo(f"Ember studio: {url}")
        if sign_in:
            typer.echo(f"Sign-in link for {me.get('user')} (valid {SIGN_IN_MINUTES} minutes, "
                       f"keep it private): {sign_in}")
    if not no_browser:
        webbrowser.open(link)
