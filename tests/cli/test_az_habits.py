"""`az ml` habits the CLI honours (issue 10, item 6), typed as a user types them: --query and
-o tsv, --no-wait, --local, the name aliases, az's credential names, update --set without -f,
batch-endpoint update, invoke --deployment-name, and errors that say what to do."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ember.cli.main import take_query
from ember.cli.output import tsv
from tests.conftest import WorkspaceServer, wait_for
from tests.serving.conftest import scoring_project
from tests.test_cli import ember


# -- output: --query and -o tsv ---------------------------------------------------------------

def test_tsv_prints_like_az() -> None:
    assert tsv("Completed") == "Completed"
    assert tsv(3) == "3" and tsv(None) == "" and tsv(True) == "True"
    assert tsv(["a", "b"]) == "a\nb"
    assert tsv([{"name": "a", "n": 1}, {"name": "b", "n": None}]) == "a\t1\nb\t"
    assert tsv({"name": "a", "tags": {"k": "v"}, "ids": [1, 2]}) == 'a\t{"k":"v"}\t[1,2]'
    assert tsv([["a", 1], ["b", 2]]) == "a\t1\nb\t2"


def test_query_is_taken_wherever_it_stands() -> None:
    assert take_query(["job", "list", "--query", "[].name", "-o", "tsv"]) == (
        ["job", "list", "-o", "tsv"], "[].name")
    assert take_query(["--query=[0]", "job", "list"]) == (["job", "list"], "[0]")
    assert take_query(["job", "list"]) == (["job", "list"], None)


def test_query_and_tsv_through_the_cli(server: WorkspaceServer, tmp_path: Path) -> None:
    job = tmp_path / "job.yml"
    job.write_text("command: echo hi\nexperiment_name: habits\ndisplay_name: first\n")
    r = ember(server, "job", "create", "-f", str(job), "--no-wait", "--query", "name",
              "-o", "tsv")
    assert r.returncode == 0, r.stderr
    name = r.stdout.strip()
    assert name and len(r.stdout.splitlines()) == 1
    r = ember(server, "job", "list", "--query", "[].[name, display_name]", "-o", "tsv")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"{name}\tfirst"]
    r = ember(server, "job", "list", "--query=[].{n: name, e: experiment_name}", "-o", "json")
    assert json.loads(r.stdout) == [{"n": name, "e": "habits"}]
    r = ember(server, "job", "show", "-n", name, "--query", "experiment_name")   # table
    assert r.stdout.strip() == "habits"
    r = ember(server, "job", "show", "--query", "display_name", "-n", name, "-o", "yaml")
    assert r.stdout.strip() == "first"
    r = ember(server, "workspace", "show", "-o", "tsv",
              "--query", "{a: name, b: mlflow_tracking_uri}")
    assert r.stdout == f"{server.workspace}\t{server.tracking_uri}\n"
    for n in ("one", "two"):
        (tmp_path / f"{n}.csv").write_text("a\n1\n")
        assert ember(server, "data", "create", "-n", n, "--path",
                     str(tmp_path / f"{n}.csv")).returncode == 0
    lines = ember(server, "data", "list", "-o", "tsv").stdout.splitlines()
    assert sorted(ln.split("\t")[0] for ln in lines) == ["one", "two"]
    assert all("uri_file" in ln.split("\t") for ln in lines)
    r = ember(server, "job", "list", "--query", "[0")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.startswith("Error: --query '[0' is not a JMESPath expression")


# -- errors that say what to do ---------------------------------------------------------------

def test_batch_invoke_without_input_names_the_option(tmp_path: Path) -> None:
    r = ember(None, "batch-endpoint", "invoke", "-n", "scorer", home=tmp_path / "h")
    assert r.returncode == 2
    assert "Missing option '--input'" in r.stderr and "input_" not in r.stderr


@pytest.mark.parametrize("text,words", [
    ("type: pipeline\ncomponent: ./train.yml\njobs:\n  a:\n    command: echo\n",
     ("a pipeline job has no top-level 'component'", "steps go under 'jobs:'",
      "'component:' belongs to a step")),
    ("type: command\ncomponent: ./train.yml\n",
     ("a command job has no 'component'", "its own 'command'", "type: pipeline")),
])
def test_a_top_level_component_key_explains_what_to_do(tmp_path: Path, text: str,
                                                       words: tuple[str, ...]) -> None:
    (tmp_path / "job.yml").write_text(text)
    r = ember(None, "job", "create", "-f", str(tmp_path / "job.yml"), home=tmp_path / "h")
    assert r.returncode == 1
    assert "did you mean 'compute'" not in r.stderr
    assert all(w in r.stderr for w in words), r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_remote_inputs_are_checked_before_the_job_is_recorded(server: WorkspaceServer,
                                                               tmp_path: Path) -> None:
    job = tmp_path / "job.yml"

    def submit(uri: str) -> tuple[int, str]:
        job.write_text("command: cat ${{inputs.rows}}\ninputs:\n  rows:\n    type: uri_file\n"
                       f"    path: {uri}\n")
        r = ember(server, "job", "create", "-f", str(job), "--query", "name", "-o", "tsv")
        return r.returncode, r.stderr + r.stdout

    code, out = submit("https://127.0.0.1:9/x.csv")
    assert code == 1 and "input 'rows'" in out and "cannot be reached" in out, out
    code, out = submit("wasbs://data@acct.blob.core.windows.net/x.csv")
    assert code == 1 and "input 'rows'" in out and "Azure storage" in out, out
    code, out = submit("abfss://fs@acct.dfs.core.windows.net/x.csv")
    assert code == 1 and "Azure storage (abfss://)" in out, out
    code, out = submit(f"{server.url}/no/such/file.csv")
    assert code == 1 and "answered HTTP 404" in out, out
    assert "internal error" not in out
    assert json.loads(ember(server, "job", "list", "-o", "json").stdout) == []
    # a URL that answers is accepted (the server's API needs a token the job would not send:
    # its open /health is a URL that answers anyone)
    code, out = submit(f"{server.url}/health")
    assert code == 0, out


# -- models -----------------------------------------------------------------------------------

def test_model_create_needs_path_and_shows_creation_time_as_a_date(
        server: WorkspaceServer, tmp_path: Path) -> None:
    r = ember(server, "model", "create", "-n", "clf")
    assert r.returncode == 1 and "--path is required to create a model" in r.stderr
    (tmp_path / "model.yml").write_text("name: clf\n")
    r = ember(server, "model", "create", "-f", str(tmp_path / "model.yml"))
    assert r.returncode == 1 and "--path is required" in r.stderr and "model.yml" in r.stderr
    (tmp_path / "weights.txt").write_text("2.0")
    r = ember(server, "model", "create", "-f", str(tmp_path / "model.yml"), "--path",
              str(tmp_path / "weights.txt"), "-o", "json")
    assert r.returncode == 0, r.stderr
    ms = json.loads(r.stdout)["creation_time"]
    assert ms > 10**12   # milliseconds, as MLflow keeps them
    day = time.strftime("%Y-%m-%d", time.localtime(ms / 1000))
    shown = ember(server, "model", "show", "-n", "clf").stdout
    line = next(ln for ln in shown.splitlines() if ln.strip().startswith("creation_time"))
    assert day in line, shown
    assert day in ember(server, "model", "list").stdout


# -- batch endpoints --------------------------------------------------------------------------

def test_batch_endpoint_update_with_set_and_file(server: WorkspaceServer,
                                                 tmp_path: Path) -> None:
    r = ember(server, "batch-endpoint", "create", "-n", "scorer", "--no-wait")
    assert r.returncode == 0, r.stderr
    r = ember(server, "batch-endpoint", "update", "-n", "scorer", "--set", "description=nightly",
              "--set", "tags.team=risk", "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["description"] == "nightly"
    assert json.loads(r.stdout)["tags"] == {"team": "risk"}
    (tmp_path / "ep.yml").write_text("name: scorer\ndescription: from the file\n")
    r = ember(server, "batch-endpoint", "update", "-f", str(tmp_path / "ep.yml"),
              "--query", "description", "-o", "tsv")
    assert r.returncode == 0 and r.stdout.strip() == "from the file", r.stderr
    r = ember(server, "batch-endpoint", "update", "-n", "scorer", "--set", "compute=x")
    assert r.returncode == 1 and "--set compute=x" in r.stderr
    r = ember(server, "batch-endpoint", "update", "-n", "nope", "--set", "description=x")
    assert r.returncode == 1 and "nope" in r.stderr
    r = ember(server, "batch-endpoint", "delete", "-n", "scorer", "-y", "--no-wait")
    assert r.returncode == 0, r.stderr


# -- online endpoints -------------------------------------------------------------------------

DEPLOYMENT = """name: {name}
endpoint_name: habits
model: azureml:scaler:1
code_configuration:
  code: ./src
  scoring_script: score.py
environment_variables:
  TAG: {name}
instance_type: Standard_DS3_v2
instance_count: 1
"""


def test_online_endpoint_habits(server: WorkspaceServer, tmp_path: Path) -> None:
    root = scoring_project(tmp_path)
    assert ember(server, "model", "create", "-n", "scaler", "--path",
                 str(root / "model")).returncode == 0
    (tmp_path / "ep.yml").write_text("name: habits\nauth_mode: key\n")
    r = ember(server, "online-endpoint", "create", "-f", str(tmp_path / "ep.yml"), "--local",
              "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    notice = r.stderr.strip().splitlines()
    assert len(notice) == 1 and "--local" in notice[0] and "this machine" in notice[0]
    keys = json.loads(ember(server, "online-endpoint", "get-credentials", "-n", "habits",
                            "-o", "json").stdout)
    assert set(keys) == {"primaryKey", "secondaryKey"} and all(keys.values())
    for name in ("blue", "green"):
        (tmp_path / f"{name}.yml").write_text(DEPLOYMENT.format(name=name))
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "blue.yml"),
              "--endpoint", "habits", "--all-traffic", "--local", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provisioning_state"] == "Succeeded"
    r = ember(server, "online-deployment", "create", "-f", str(tmp_path / "green.yml"),
              "--endpoint-name", "habits", "--no-wait", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["provisioning_state"] in ("Creating", "Updating")

    def state(name: str) -> str:
        return ember(server, "online-deployment", "show", "-n", name, "--endpoint", "habits",
                     "--query", "provisioning_state", "-o", "tsv").stdout.strip()

    assert wait_for(lambda: state("green") == "Succeeded", timeout=120)
    (tmp_path / "req.json").write_text(json.dumps({"data": [1, 2]}))

    def tag(*flags: str) -> str:
        r = ember(server, "online-endpoint", "invoke", "-n", "habits", "-r",
                  str(tmp_path / "req.json"), *flags, "-o", "json")
        assert r.returncode == 0, r.stderr
        return str(json.loads(r.stdout)["tag"])

    assert tag() == "blue"   # all the traffic goes to blue
    assert tag("--deployment-name", "green") == "green"
    assert tag("--deployment", "green") == "green"
    r = ember(server, "online-deployment", "update", "-n", "green", "--endpoint", "habits",
              "--set", "instance_count=2", "-o", "json")
    assert r.returncode == 0, r.stderr
    updated = json.loads(r.stdout)
    assert updated["instance_count"] == 2 and updated["provisioning_state"] == "Succeeded"
    assert updated["environment_variables"] == {"TAG": "green"}   # the rest is unchanged
    r = ember(server, "online-deployment", "show", "-n", "green", "-e", "habits",
              "--query", "length(instances)", "-o", "tsv")
    assert r.stdout.strip() == "2"
    r = ember(server, "online-deployment", "update", "-n", "green", "--endpoint-name",
              "habits", "--set", "provisioning_state=Failed")
    assert r.returncode == 1 and "provisioning_state" in r.stderr
    r = ember(server, "online-deployment", "delete", "-n", "green", "--endpoint", "habits",
              "-y", "--no-wait", "--local")
    assert r.returncode == 0, r.stderr
    r = ember(server, "online-deployment", "list", "--endpoint", "habits", "--query",
              "[].name", "-o", "tsv")
    assert "green" not in r.stdout.split()


def _commands() -> dict[str, object]:
    """Every command of the CLI by its full name ("online-deployment update")."""
    import typer

    from ember.cli.main import app

    found: dict[str, object] = {}

    def walk(group: object, prefix: str) -> None:
        for name, cmd in getattr(group, "commands", {}).items():
            if getattr(cmd, "commands", None):
                walk(cmd, f"{prefix}{name} ")
            else:
                found[f"{prefix}{name}"] = cmd
    walk(typer.main.get_command(app), "")
    return found


def test_every_command_takes_the_az_options() -> None:
    commands = _commands()
    assert "batch-endpoint update" in commands
    for full, cmd in commands.items():
        opts = {o for p in cmd.params for o in p.opts}   # type: ignore[attr-defined]
        group, verb = full.rsplit(" ", 1) if " " in full else ("", full)
        if verb in ("create", "update", "delete") and group != "server":
            assert "--no-wait" in opts, full
        if group in ("online-endpoint", "online-deployment"):
            assert "--local" in opts, full
        # az login's --endpoint is a server's URL, not an endpoint's name
        if ("--endpoint-name" in opts or "--endpoint" in opts) and full not in ("login",
                                                                                "logout"):
            assert {"--endpoint-name", "--endpoint"} <= opts, full
        if "--deployment-name" in opts or "--deployment" in opts:
            assert {"--deployment-name", "--deployment"} <= opts, full
        if "--output" in opts:
            assert "tsv" in next(p.help for p in cmd.params   # type: ignore[attr-defined]
                                 if "--output" in p.opts), full
