"""examples/endpoints runs as the README shows: online blue/green and batch scoring via the CLI."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import ServerProc
from tests.test_cli import REPO, ember

EX = REPO / "examples/endpoints"


def test_online_and_batch_examples(server: ServerProc, tmp_path: Path) -> None:
    def ok(*args: str) -> str:
        r = ember(server, *args)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    ok("online-endpoint", "create", "-f", str(EX / "endpoint.yml"))
    ok("online-deployment", "create", "-f", str(EX / "blue.yml"), "--all-traffic")
    ok("online-deployment", "create", "-f", str(EX / "green.yml"))
    out = json.loads(ok("online-endpoint", "invoke", "-n", "scaler", "--request-file",
                        str(EX / "request.json"), "-o", "json"))
    assert out == {"predictions": [3.0, 6.0, 9.0], "deployment": "blue"}
    out = json.loads(ok("online-endpoint", "invoke", "-n", "scaler", "--request-file",
                        str(EX / "request.json"), "--deployment-name", "green", "-o", "json"))
    assert out["deployment"] == "green"
    shown = json.loads(ok("online-endpoint", "update", "-n", "scaler", "--traffic",
                          "blue=90 green=10", "-o", "json"))
    assert shown["traffic"] == {"blue": 90, "green": 10}

    ok("batch-endpoint", "create", "-f", str(EX / "batch-endpoint.yml"))
    ok("batch-deployment", "create", "-f", str(EX / "batch-deployment.yml"))
    job = json.loads(ok("batch-endpoint", "invoke", "-n", "scaler-batch", "--input",
                        str(EX / "batch-inputs"), "-o", "json"))
    ok("job", "stream", "-n", job["name"])
    ok("job", "download", "-n", job["name"], "--output-name", "score", "--download-path",
       str(tmp_path))
    rows = (tmp_path / "named-outputs/score/predictions.csv").read_text().splitlines()
    assert sorted(rows) == [f"value{i}.txt,{i * 3.0}" for i in range(1, 6)]
