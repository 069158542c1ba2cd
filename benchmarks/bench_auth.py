"""The cost of authentication on the tracking hot paths: one Ember server with auth on (the
default: every request carries the owner token, checked through the in-memory cache, mutations
queued for the audit log) against one started with ``--no-auth``, side by side in one run, with
``bench_tracking.py``'s tests, interleaved, best of ``--rounds``. The target: auth on within 5%
of auth off on each (ratio on/off >= 0.95).

Usage: python benchmarks/bench_auth.py [--quick] [--rounds 3]
Writes bench-results/auth.json (or --out) and prints the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson  # noqa: E402

import _common as c  # noqa: E402
import bench_tracking as bt  # noqa: E402


def compare(on: dict[str, Any], off: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for label, path, higher, _ in bt.TARGETS:
        a, b = bt.dig(on, path), bt.dig(off, path)
        ratio = None
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a > 0 and b > 0:
            ratio = a / b if higher else b / a
        rows.append({"test": label, "auth_on": a, "auth_off": b,
                     "unit": "calls/s" if higher else "s",
                     "ratio_on_over_off": round(ratio, 3) if ratio is not None else None,
                     "met": ratio >= 0.95 if ratio is not None else None})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=None)
    ap.add_argument("--out", type=Path, default=c.RESULTS / "auth.json")
    args = ap.parse_args(argv)
    p = bt.params(args.quick)
    rounds = args.rounds or (1 if args.quick else 3)
    bt.QUIET["max_wait_s"] = 0.0 if args.quick else 30.0
    settle = 2.0 if args.quick else 10.0
    c.install_deadline(900 if args.quick else 3600)
    result: dict[str, Any] = {"benchmark": "auth", "quick": args.quick, "params": p,
                              "rounds": rounds, "machine": c.machine_info()}
    with contextlib.ExitStack() as stack:
        targets: dict[str, bt.Target] = {}
        for key, extra in (("auth_on", []), ("auth_off", ["--no-auth"])):
            print(f"ember server ({key}): starting", file=sys.stderr)
            srv = stack.enter_context(c.ember_server(settle=settle, extra_args=extra))
            ok, why = bt.mlflow_routes_available(srv)
            if not ok:
                raise RuntimeError(f"{key}: MLflow routes not available: {why}")
            targets[key] = bt.Target(srv)
            stack.callback(targets[key].close)
        measured = bt.measure_all(targets, p, rounds)
        result.update(measured)
        result["comparison"] = compare(measured["auth_on"], measured["auth_off"])
    c.write_json(args.out, result)
    print(orjson.dumps(result["comparison"], option=orjson.OPT_INDENT_2).decode())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
