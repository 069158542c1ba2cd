"""Online serving across a server crash: failed requests while the server is killed with
``kill -9`` and started again on the same home, under load.

Set-up: the sklearn MLflow model of bench_serving.py behind an endpoint, deployment ``blue`` with
``instance_count`` 2 and ``max_concurrent_requests_per_instance`` 16; the server runs with
``--serving-port 0`` and restarts on the same API port (so the router's port is "any" both
times, as on a first start).

Load: 8 closed-loop clients (bench_serving.load: keep-alive connections, 4 client processes)
for ``--seconds``. After a third of it the server gets SIGKILL, is started again at once, and
the script waits until the new server shows the deployment Succeeded with the same worker pids
(adopted). Every non-200 answer or transport error counts as a failure.

Reports: requests, failed, the time from the kill to the new server answering, and whether the
router and the workers kept their pids.

Usage: python benchmarks/bench_serving_restart.py [--quick] [--seconds S] [--out PATH]
Writes bench-results/serving_restart.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common as c  # noqa: E402
import bench_serving as bs  # noqa: E402

CLIENTS = 8


class EmberServer:
    """``ember server start`` on a fixed home and API port, killable and restartable."""

    def __init__(self, home: Path, port: int) -> None:
        self.home, self.port = home, port
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://{c.HOST}:{port}"

    def start(self, timeout: float = 120.0) -> None:
        info = self.home / "server.json"
        info.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "ember.cli.main", "server", "start", "--home",
               str(self.home), "--port", str(self.port), "--serving-port", "0"]
        env = {k: v for k, v in os.environ.items()
               if k not in ("EMBER_ENDPOINT", "MLFLOW_TRACKING_URI")}
        self.proc = c._spawn(cmd, self.home.parent / f"{self.home.name}.log", env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError, KeyError):
                if json.loads(info.read_text())["pid"] == self.proc.pid:
                    c.wait_http_ok(f"{self.url}/health", self.proc, timeout)
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"ember server exited with code {self.proc.returncode}")
            time.sleep(0.05)
        raise TimeoutError("ember server did not start")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None:
            c.stop_process_group(self.proc)


def deployment_pids(client: Any) -> list[int]:
    return sorted(i["pid"] for i in client.online_deployments.instances("blue", "bench"))


def crash_and_restart(server: EmberServer, before: list[int], at: float,
                      outcome: dict[str, Any]) -> None:
    from ember.client.mlclient import MLClient

    time.sleep(max(0.0, at - time.monotonic()))
    t0 = time.monotonic()
    server.kill9()
    server.start()
    outcome["server_back_s"] = round(time.monotonic() - t0, 2)
    with MLClient(endpoint=server.url) as client:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            d = client.online_deployments.get("blue", "bench")
            if d.provisioning_state == "Succeeded" and deployment_pids(client) == before:
                outcome["adopted_s"] = round(time.monotonic() - t0, 2)
                break
            time.sleep(0.1)
        outcome["worker_pids_unchanged"] = deployment_pids(client) == before
        outcome["scoring_uri_after"] = client.online_endpoints.get("bench").scoring_uri


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float, default=24.0)
    ap.add_argument("--out", default=str(Path("bench-results") / "serving_restart.json"))
    args = ap.parse_args(argv)
    seconds = 15.0 if args.quick else args.seconds
    c.install_deadline(int(seconds) + 600)
    result: dict[str, Any] = {"benchmark": "serving_restart", "quick": args.quick,
                              "machine": c.machine_info(), "seconds": seconds,
                              "clients": CLIENTS}
    work = Path(tempfile.mkdtemp(prefix="bench-serving-restart-"))
    server = EmberServer(work / "home", c.free_port())
    try:
        from ember.client.mlclient import MLClient

        bs.save_model(work / "model")
        server.start()
        url, key, client = bs.ember_endpoint(server, work / "model", instances=2)  # type: ignore[arg-type]
        before = deployment_pids(client)
        client.close()
        body = json.dumps({"input_data": {"columns": bs.COLUMNS, "data": bs.ROW}}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        httpx.post(url, content=body, headers=headers, timeout=30).raise_for_status()
        outcome: dict[str, Any] = {"scoring_uri_before": url}
        # bench_serving.load starts its clients 1.5 s after it is called.
        crash = threading.Thread(target=crash_and_restart, args=(
            server, before, time.monotonic() + 1.5 + seconds / 3, outcome))
        crash.start()
        measured = bs.load(url, body, headers, CLIENTS, seconds)
        crash.join()
        with MLClient(endpoint=server.url) as after:
            metrics = after.online_endpoints.get_metrics("bench")["blue"]
        result["restart"] = {**measured, **outcome,
                             "router_status_counts": metrics["status_counts"]}
        result["targets"] = {"failed": 0, "met": measured["failed"] == 0}
    except Exception:  # noqa: BLE001 - the report says what broke
        result["error"] = traceback.format_exc()
    finally:
        server.stop()
        _stop_leftovers(work / "home")
        c._rmtree(work)
    c.write_json(Path(args.out), result)
    print(json.dumps(result, indent=2))
    return 1 if "error" in result else 0


def _stop_leftovers(home: Path) -> None:
    """Serving processes are in their own sessions: a stopped server stops them, but a failed
    run may leave some (the home's registry has their pids and start times)."""
    from ember.engine.processes import is_same_process, kill_tree

    try:
        recorded = json.loads((home / "serving/pids.json").read_text())
    except (OSError, ValueError):
        return
    for pid, created in recorded.items():
        if is_same_process(int(pid), float(created)):
            kill_tree(int(pid), grace=2.0)


if __name__ == "__main__":
    sys.exit(main())
