"""Cancelling a sweep with many queued trials (issue 10): how long until the sweep is Canceled,
and how many trials started after the cancel request (there should be none).

Set-up: an Ember server with ``--max-concurrent-jobs 2``; a random sweep of ``--trials`` trials
(each ``sleep 60``), every trial recorded and two of them running before the cancel. There is
no other tool to compare with here: Azure ML's own figure is the one the issue reports.

Usage: python benchmarks/bench_sweep_cancel.py [--trials 1000 300] [--out PATH]
Writes bench-results/sweep_cancel.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import RESULTS, ember_server, machine_info, write_json  # noqa: E402

from ember.client.mlclient import MLClient  # noqa: E402
from ember.specs.any_job import load_any_job_spec  # noqa: E402

TERMINAL = ("Canceled", "Failed", "Completed")


def _until(check: Any, timeout: float, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(interval)
    raise TimeoutError("condition not met")


def one(trials: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-sweep-cancel-"))
    spec = folder / "sweep.yml"
    spec.write_text(textwrap.dedent(f"""
        type: sweep
        trial:
          command: sleep 60; echo ${{{{search_space.x}}}}
        sampling_algorithm: random
        search_space:
          x: {{type: uniform, min_value: 0, max_value: 1}}
        objective: {{primary_metric: acc, goal: maximize}}
        limits: {{max_total_trials: {trials}}}
        """).lstrip())
    with ember_server(settle=1.0, extra_args=["--max-concurrent-jobs", "2"]) as srv:
        c = MLClient(endpoint=srv.url)

        def children() -> list[Any]:
            return c.jobs.list(parent_job_name=job.name, max_results=100_000)

        t0 = time.monotonic()
        job = c.jobs.create_or_update(load_any_job_spec(spec))
        _until(lambda: len(children()) >= trials, 900, 0.5)
        _until(lambda: sum(t.status == "Running" for t in children()) >= 2, 120)
        recorded_s = time.monotonic() - t0
        asked = time.time()
        t1 = time.monotonic()
        c.jobs.begin_cancel(job.name)
        final = _until(lambda: (j := c.jobs.get(job.name)).status in TERMINAL and j, 900)
        canceled_s = time.monotonic() - t1
        kids = children()
        started_after = sum(any(h.status == "Preparing" and h.time >= asked
                                for h in t.status_history) for t in kids)
        return {"trials": trials, "recorded_and_two_running_s": round(recorded_s, 1),
                "cancel_to_canceled_s": round(canceled_s, 2), "final_status": final.status,
                "trials_started_after_cancel": started_after,
                "trials_not_ended": sum(t.status not in TERMINAL for t in kids)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 300])
    parser.add_argument("--out", type=Path, default=RESULTS / "sweep_cancel.json")
    args = parser.parse_args()
    report = {"machine": machine_info(), "runs": [one(n) for n in args.trials]}
    write_json(args.out, report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
