"""The monitor run (issue 16) end to end, beside ``evidently`` on the same files.

Data (seeded, generated once and cached under ``--data-dir``, default ``benchmarks/.data/``):
a reference table of ``--reference-rows`` rows (CSV) and ``--rows`` production rows written as a
deployment's collected payloads exactly as Ember's router writes them
(``<folder>/YYYY/MM/DD/HH/data.jsonl``, one JSON record per request, spread over ``--hours``
hourly folders), each request a single row ``{"input_data": {"columns": [...], "data":
[[...]]}}``: the worst case for parsing, one JSON line per row. ``--numerical`` float features
(some shifted or rescaled in production, one with nulls) and ``--categorical`` text features
(some with changed frequencies, one with nulls, one with a category the reference never saw).

Ember: ``python -m ember.monitoring.job`` as a subprocess, what a monitor schedule's job runs,
with two signals over the whole window: ``data_drift`` (every metric of every feature: JS, PSI,
normalized Wasserstein, KS; JS, PSI, chi-squared) and ``data_quality`` (null, type error and
out-of-bounds rates); its wall clock from process start to ``signals.json`` written. Then the
same steps in this process, timed one by one (read the collected rows, read the reference, each
signal, write the results).

evidently (``_monitor_evidently.py``, in its own virtual environment: evidently 0.7.23 needs
``pandas<3``; ``--evidently-python`` or ``EVIDENTLY_PYTHON``, default
``benchmarks/.venv-evidently/bin/python``): the same files read with pandas, one ``Report`` of
``ValueDrift`` per feature and stattest (wasserstein, jensenshannon, psi, ks; jensenshannon, psi,
chisquare) and one of ``MissingValueCount`` / ``OutRangeValueCount`` / ``OutListValueCount``
per feature, the snapshots written as JSON. The metric values of both are compared.

Usage:
    uv venv benchmarks/.venv-evidently      # once
    uv pip install -p benchmarks/.venv-evidently/bin/python evidently==0.7.23 'pandas<3' orjson
    python benchmarks/bench_monitor_run.py [--rows 1000000] [--reference-rows 100000]
        [--numerical 14] [--categorical 6] [--hours 4] [--skip-evidently]
        [--evidently-python PATH] [--evidently-reader json|pandas|both] [--data-dir DIR]
        [--keep] [-o text|json] [--out FILE]
Writes bench-results/monitor_run.json and prints a table (or the JSON with ``-o json``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, machine_info, write_json  # noqa: E402

from ember.monitoring import data as D  # noqa: E402
from ember.monitoring import job  # noqa: E402
from ember.monitoring.drift import data_drift  # noqa: E402
from ember.monitoring.quality import data_quality  # noqa: E402

HERE = Path(__file__).resolve().parent
T0 = dt.datetime(2026, 12, 1, 0, 0, tzinfo=dt.UTC).timestamp()
CATEGORIES = ["red", "green", "blue", "amber", "violet", "teal", "olive", "coral"]
# Ember metric -> the evidently value it is compared with.
PAIRS = {
    "normalized_wasserstein_distance": "ValueDrift:wasserstein",
    "jensen_shannon_distance": "ValueDrift:jensenshannon",
    "population_stability_index": "ValueDrift:psi",
    "two_sample_kolmogorov_smirnov_test": "ValueDrift:ks",
    "pearsons_chi_squared_test": "ValueDrift:chisquare",
    "null_value_rate": "MissingValueCount.share",
    "out_of_bounds_rate": None,   # OutRange/OutListValueCount.count / rows (see compare())
}


# --- data ----------------------------------------------------------------------------------------


def feature_names(numerical: int, categorical: int) -> tuple[list[str], list[str]]:
    return [f"num_{i}" for i in range(numerical)], [f"cat_{i}" for i in range(categorical)]


def _window(rows: int, numerical: int, categorical: int, production: bool,
            rng: np.random.Generator) -> dict[str, list[Any]]:
    """Columns as Python lists (None = null). In production: num_0..2 shifted by 0.1/0.3/0.5
    std, num_3 rescaled ×1.5, num_4 1% nulls; cat_0 reweighted, cat_1 1% nulls, cat_2 0.5% of a
    category the reference never saw."""
    cols: dict[str, list[Any]] = {}
    for i in range(numerical):
        mean, std = float(i % 5) * 10.0, 1.0 + i % 4
        if production and i < 3:
            mean += (0.1, 0.3, 0.5)[i] * std
        if production and i == 3:
            std *= 1.5
        values = rng.normal(mean, std, rows).round(4)
        col: list[Any] = values.tolist()
        if production and i == 4:
            for j in np.flatnonzero(rng.random(rows) < 0.01).tolist():
                col[j] = None
        cols[f"num_{i}"] = col
    for i in range(categorical):
        k = 4 + i % 5
        p = np.linspace(2.0, 1.0, k)
        if production and i == 0:
            p = p[::-1]
        p = p / p.sum()
        picks = rng.choice(k, rows, p=p)
        names = np.array(CATEGORIES[:k], dtype=object)
        col = names[picks].tolist()
        if production and i == 1:
            for j in np.flatnonzero(rng.random(rows) < 0.01).tolist():
                col[j] = None
        if production and i == 2:
            for j in np.flatnonzero(rng.random(rows) < 0.005).tolist():
                col[j] = "unseen"
        cols[f"cat_{i}"] = col
    return cols


def generate(folder: Path, rows: int, reference_rows: int, numerical: int, categorical: int,
             hours: int) -> dict[str, Any]:
    """Write (once) reference.csv and collected/; the cache key is the folder name."""
    meta_path = folder / "meta.json"
    if meta_path.is_file():
        return dict(json.loads(meta_path.read_text()))
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    rng = np.random.default_rng(16)
    names = [*feature_names(numerical, categorical)[0], *feature_names(numerical, categorical)[1]]
    folder.mkdir(parents=True)
    ref = _window(reference_rows, numerical, categorical, False, rng)
    with open(folder / "reference.csv", "w", encoding="utf-8") as fh:
        fh.write(",".join(names) + "\n")
        for row in zip(*(ref[n] for n in names)):
            fh.write(",".join("" if v is None else str(v) for v in row) + "\n")
    del ref
    prod = _window(rows, numerical, categorical, True, rng)
    span = hours * 3600.0
    handles: dict[str, Any] = {}
    ids = rng.bytes(16 * rows)
    try:
        for n, row in enumerate(zip(*(prod[c] for c in names))):
            when = T0 + n * span / rows
            moment = dt.datetime.fromtimestamp(when, dt.UTC)
            hour = f"{moment:%Y/%m/%d/%H}"
            fh = handles.get(hour)
            if fh is None:
                path = folder / "collected" / hour / "data.jsonl"
                path.parent.mkdir(parents=True, exist_ok=True)
                fh = handles[hour] = open(path, "wb")
            rec = {"id": str(uuid.UUID(bytes=ids[16 * n:16 * n + 16], version=4)),
                   "time": D.iso(when), "endpoint": "credit", "deployment": "blue",
                   "data": {"input_data": {"columns": names, "data": [list(row)]}}}
            fh.write(orjson.dumps(rec) + b"\n")
    finally:
        for fh in handles.values():
            fh.close()
    meta = {"rows": rows, "reference_rows": reference_rows, "numerical": numerical,
            "categorical": categorical, "hours": hours, "start": T0, "end": T0 + span,
            "generate_s": round(time.perf_counter() - started, 1),
            "collected_bytes": sum(p.stat().st_size for p in (folder / "collected").rglob("*.jsonl")),
            "reference_bytes": (folder / "reference.csv").stat().st_size}
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


# --- Ember ---------------------------------------------------------------------------------------


def run_measured(cmd: list[str], env: dict[str, str] | None = None, cwd: str | None = None,
                 ) -> tuple[float, int, str, float]:
    """Run a command; its wall clock, exit status, stderr, and peak resident memory (MiB)."""
    with tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return wall, proc.returncode, err.read().decode(errors="replace"), usage.ru_maxrss / 1024


def monitor_config(meta: dict[str, Any]) -> dict[str, Any]:
    production = {"input": "collected", "collected": True, "context": "model_inputs",
                  "start": meta["start"], "end": meta["end"], "columns": {}}
    reference = {"input": "reference", "collected": False, "context": "training",
                 "start": None, "end": None, "columns": {}}
    signal = {"features": None, "top_n_feature_importance": None, "metric_thresholds": None,
              "alert_enabled": True, "production": production, "reference": reference}
    return {"monitor": "bench", "trigger_time": D.iso(meta["end"]), "ml_task": None,
            "signals": {"drift": {"type": "data_drift", **signal},
                        "quality": {"type": "data_quality", **signal}}}


def ember_process(data: Path, meta: dict[str, Any], out: Path) -> dict[str, Any]:
    """The monitor job as the server runs it; wall clock from start to exit."""
    # The same Ember as this process imported, whatever the working directory.
    root = str(Path(job.__file__).resolve().parents[2])
    env = {**os.environ, job.CONFIG_ENV: json.dumps(monitor_config(meta)),
           "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    env.pop("MLFLOW_RUN_ID", None)
    cmd = [sys.executable, "-m", "ember.monitoring.job", "--input",
           f"collected={data / 'collected'}", "--input", f"reference={data / 'reference.csv'}",
           "--output", str(out)]
    wall, rc, stderr, peak_mib = run_measured(cmd, env, cwd=root)
    # exit 1 = a signal breached (the drifted features do): the run itself succeeded.
    if rc not in (0, 1) or not (out / job.RESULT_FILE).is_file():
        raise SystemExit(f"the monitor job failed (exit {rc}):\n{stderr}")
    result = json.loads((out / job.RESULT_FILE).read_text())
    for name, entry in result["signals"].items():
        if entry.get("error"):
            raise SystemExit(f"the monitor job's signal {name} failed: {entry['error']}")
    return {"wall_s": wall, "exit": rc, "peak_rss_mib": round(peak_mib), "result": result,
            "signal_s": {n: e["seconds"] for n, e in result["signals"].items()}}


def ember_in_process(data: Path, meta: dict[str, Any], out: Path) -> dict[str, float]:
    """The job's steps one by one: read, each signal, write (the reads with the collector
    paused, as the job's ``main`` runs them)."""
    times: dict[str, float] = {}
    with D.gc_paused():
        t0 = time.perf_counter()
        prod = D.read_collected(data / "collected", meta["start"], meta["end"])
        times["read_production_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ref = D.read_table(data / "reference.csv")
        times["read_reference_s"] = time.perf_counter() - t0
    assert prod.rows == meta["rows"] and ref.rows == meta["reference_rows"], (prod.rows, ref.rows)
    features = [c for c in ref.columns if c != D.CORRELATION_ID]
    t0 = time.perf_counter()
    drift = data_drift(ref.columns, prod.columns, features=features)
    times["compute_drift_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    quality = data_quality(ref.columns, prod.columns, features=features)
    times["compute_quality_s"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    (out / "inproc.json").write_text(json.dumps(
        {"drift": drift.to_dict(), "quality": quality.to_dict()}, default=job._json_default))
    times["write_s"] = time.perf_counter() - t0
    return times


def ember_values(result: dict[str, Any]) -> dict[tuple[str, str], float]:
    return {(m["feature"], m["metric"]): m["value"]
            for entry in result["signals"].values() for m in entry["metrics"]}


# --- evidently -----------------------------------------------------------------------------------


def evidently_python(given: str | None) -> Path:
    path = Path(given or os.environ.get("EVIDENTLY_PYTHON")
                or HERE / ".venv-evidently" / "bin" / "python")
    if not path.is_file():
        raise SystemExit(
            f"no evidently interpreter at {path}: make its venv (evidently 0.7.23 needs "
            "pandas<3):\n  uv venv benchmarks/.venv-evidently && uv pip install -p "
            "benchmarks/.venv-evidently/bin/python evidently==0.7.23 'pandas<3' orjson\n"
            "or pass --evidently-python / EVIDENTLY_PYTHON, or --skip-evidently")
    check = subprocess.run([str(path), "-c", "from importlib.metadata import version as v; "
                            "print(v('evidently'), v('pandas'))"],
                           capture_output=True, text=True, check=False)
    if check.returncode != 0:
        raise SystemExit(f"{path} has no evidently and pandas installed:\n"
                         f"{check.stderr.strip()}")
    return path


def evidently_run(python: Path, data: Path, numerical: list[str], categorical: list[str],
                  out: Path, reader: str) -> dict[str, Any]:
    result_path = out / "evidently.json"
    cmd = [str(python), str(HERE / "_monitor_evidently.py"), "--production",
           str(data / "collected"), "--reference", str(data / "reference.csv"),
           "--numerical", ",".join(numerical), "--categorical", ",".join(categorical),
           "--out", str(result_path), "--snapshot", str(out / "evidently-snapshot.json"),
           "--reader", reader]
    wall, rc, stderr, peak_mib = run_measured(cmd)
    if rc != 0:
        raise SystemExit(f"the evidently side failed (exit {rc}):\n{stderr}")
    result = dict(json.loads(result_path.read_text()))
    result["wall_s"] = wall
    result["peak_rss_mib"] = round(peak_mib)
    return result


# --- comparison ----------------------------------------------------------------------------------


def compare(ember: dict[tuple[str, str], float], evid: dict[str, float | None],
            rows: int, reference_rows: int) -> list[dict[str, Any]]:
    """Ember's value of each (feature, metric) beside evidently's, and evidently's converted to
    Ember's definition where only a constant separates them: JS distance in base 2 (evidently
    calls scipy's ``jensenshannon`` with the natural log: ÷ √ln 2) and the Wasserstein distance
    over the sample standard deviation (evidently divides by the population one: × √((n-1)/n)).
    PSI (evidently: Sturges bins over both windows together, empty bins set to a tiny share;
    Ember: Azure's Sturges bins on the smaller window, +1 per bin) and the numerical JS (the
    same bins) are different definitions and are not converted."""
    out = []
    for (feature, metric), value in sorted(ember.items()):
        if metric not in PAIRS:
            continue
        if metric == "out_of_bounds_rate":
            key = "OutRangeValueCount" if feature.startswith("num_") else "OutListValueCount"
            count = evid.get(f"{feature}|{key}.count")
            other = None if count is None else round(count / rows, 5)
        else:
            other = evid.get(f"{feature}|{PAIRS[metric]}")
        same = other
        if other is not None and metric == "jensen_shannon_distance":
            same = other / math.sqrt(math.log(2)) if feature.startswith("cat_") else None
        elif other is not None and metric == "normalized_wasserstein_distance":
            same = other * math.sqrt((reference_rows - 1) / reference_rows)
        elif metric == "population_stability_index":
            same = None
        out.append({"feature": feature, "metric": metric, "ember": value, "evidently": other,
                    "evidently_converted": same})
    return out


def agreement(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per metric: the largest absolute and relative difference over the features, against
    evidently's values converted to Ember's definition where they can be (else as they are)."""
    out: dict[str, dict[str, float]] = {}
    for r in rows:
        a = r["ember"]
        b = r["evidently_converted"] if r["evidently_converted"] is not None else r["evidently"]
        if a is None or b is None:
            continue
        diff = abs(a - b)
        rel = diff / max(abs(a), abs(b)) if max(abs(a), abs(b)) > 0 else 0.0
        name = r["metric"] + ("" if r["evidently_converted"] is not None else " (as is)")
        m = out.setdefault(name, {"max_abs_diff": 0.0, "max_rel_diff": 0.0, "n": 0})
        m["max_abs_diff"] = max(m["max_abs_diff"], diff)
        m["max_rel_diff"] = max(m["max_rel_diff"], rel)
        m["n"] += 1
    return out


# --- report --------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def cpu_model() -> dict[str, str]:
    info = {}
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("Model name", "CPU(s)", "Thread(s) per core"):
                info[key.strip()] = value.strip()
    except OSError:
        pass
    return info


def fmt(v: float | None, digits: int = 2) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.{digits}f}"


def table(res: dict[str, Any]) -> str:
    e, p, v = res["ember"]["in_process"], res["ember"]["process"], res.get("evidently")
    vt = v["times"] if v else {}
    lines = [f"monitor run: {res['rows']:,} production rows (JSON lines, one request each) × "
             f"{res['features']} features ({res['numerical']} numerical, {res['categorical']} "
             f"categorical), reference {res['reference_rows']:,} rows (CSV)",
             f"machine: {res['machine']['cpu']}, {res['machine']['nproc']} CPUs; "
             f"{res['machine']['date_utc']}; load before {res['load_before']}, after "
             f"{res['load_after']}", "",
             "| step | Ember (s) | evidently (s) | evidently / Ember |", "|---|---:|---:|---:|"]

    def row(name: str, a: float | None, b: float | None) -> None:
        ratio = b / a if a and b else None
        lines.append(f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(ratio)} |")

    read_e = e["read_production_s"] + e["read_reference_s"]
    read_v = (vt["read_production_s"] + vt["read_reference_s"]) if v else None
    row("read production window (JSON lines → columns)", e["read_production_s"],
        vt.get("read_production_s"))
    if v and "read_production_pandas_s" in vt:
        row("  … evidently: pd.read_json(lines=True) + flatten", None,
            vt["read_production_pandas_s"])
    if v and "read_production_json_s" in vt:
        row("  … evidently: orjson per line + DataFrame", None, vt["read_production_json_s"])
    row("read reference (CSV)", e["read_reference_s"], vt.get("read_reference_s"))
    row("build evidently Datasets", None, vt.get("datasets_s"))
    row("compute data drift (5 metrics per feature)", e["compute_drift_s"],
        vt.get("compute_drift_s"))
    row("compute data quality", e["compute_quality_s"], vt.get("compute_quality_s"))
    comp_e = e["compute_drift_s"] + e["compute_quality_s"]
    comp_v = (vt["compute_drift_s"] + vt["compute_quality_s"] + vt["datasets_s"]) if v else None
    row("**compute total**", comp_e, comp_v)
    row("write results (signals.json / snapshots)", e["write_s"], vt.get("write_s"))
    total_e = read_e + comp_e + e["write_s"]
    total_v = (read_v + comp_v + vt["write_s"]) if v else None  # type: ignore[operator]
    row("**end to end in process (read + compute + write)**", total_e, total_v)
    row("imports", None, vt.get("import_s"))
    both = v is not None and "read_production_pandas_s" in vt and "read_production_json_s" in vt
    row("**process wall clock (start → exit)**" + (" (evidently: both readers)" if both else ""),
        p["wall_s"], v["wall_s"] if v else None)
    lines.append(f"| peak memory (MiB) | {p['peak_rss_mib']} | "
                 f"{v['peak_rss_mib'] if v else '—'} | |")
    if res.get("comparison"):
        lines += ["", "| feature | metric | Ember | evidently | evidently, Ember's definition |",
                  "|---|---|---:|---:|---:|"]
        show = {"num_0", "num_3", "num_4", "num_9", "cat_0", "cat_1", "cat_2"}
        for r in res["comparison"]:
            if r["feature"] in show:
                lines.append(f"| {r['feature']} | {r['metric']} | {fmt(r['ember'], 6)} | "
                             f"{fmt(r['evidently'], 6)} | {fmt(r['evidently_converted'], 6)} |")
        lines += ["", "| metric | features | max abs diff | max rel diff |", "|---|---:|---:|---:|"]
        for metric, a in res["agreement"].items():
            lines.append(f"| {metric} | {a['n']} | {a['max_abs_diff']:.3g} | "
                         f"{a['max_rel_diff']:.3g} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--numerical", type=int, default=14)
    parser.add_argument("--categorical", type=int, default=6)
    parser.add_argument("--hours", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=HERE / ".data")
    parser.add_argument("--evidently-python", default=None)
    parser.add_argument("--evidently-reader", choices=("pandas", "json", "both"), default="json",
                        help="how the evidently side reads the JSON lines: orjson per line into "
                        "one DataFrame (json, the faster), pd.read_json(lines=True) (pandas), or "
                        "both, timed one after the other (its wall clock and memory then hold "
                        "both; the faster counts in the steps)")
    parser.add_argument("--skip-evidently", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the run's output folder")
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text")
    parser.add_argument("--out", type=Path, default=RESULTS / "monitor_run.json")
    args = parser.parse_args()

    ev_python = None if args.skip_evidently else evidently_python(args.evidently_python)
    numerical, categorical = feature_names(args.numerical, args.categorical)
    data = args.data_dir / (f"monrun-{args.rows}-{args.reference_rows}-{args.numerical}-"
                            f"{args.categorical}-{args.hours}h")
    log = (lambda msg: print(msg, file=sys.stderr, flush=True))
    log(f"[bench] data in {data} ...")
    meta = generate(data, args.rows, args.reference_rows, args.numerical, args.categorical,
                    args.hours)
    log(f"[bench] {meta['collected_bytes'] / 1e6:.0f} MB of JSON lines, "
        f"{meta['reference_bytes'] / 1e6:.1f} MB reference CSV")
    work = Path(tempfile.mkdtemp(prefix="monbench-"))
    res: dict[str, Any] = {
        "rows": args.rows, "reference_rows": args.reference_rows,
        "features": args.numerical + args.categorical, "numerical": args.numerical,
        "categorical": args.categorical, "hours": args.hours,
        "collected_files": len(D.collected_files(data / "collected", None, None)),
        "collected_bytes": meta["collected_bytes"], "load_before": load(),
        "command": " ".join(["python", "benchmarks/bench_monitor_run.py", *sys.argv[1:]]),
        "machine": {**machine_info(), "lscpu": cpu_model()},
    }
    try:
        log("[bench] Ember: python -m ember.monitoring.job ...")
        proc = ember_process(data, meta, work / "ember")
        log(f"[bench]   {proc['wall_s']:.2f} s; in process, step by step ...")
        inproc = ember_in_process(data, meta, work)
        gc.collect()
        res["ember"] = {"process": {k: v for k, v in proc.items() if k != "result"},
                        "in_process": inproc}
        if ev_python is not None:
            log("[bench] evidently ...")
            ev = evidently_run(ev_python, data, numerical, categorical, work, args.evidently_reader)
            log(f"[bench]   {ev['wall_s']:.2f} s")
            res["evidently"] = {"reader": args.evidently_reader,
                                **{k: v for k, v in ev.items() if k != "values"}}
            res["comparison"] = compare(ember_values(proc["result"]), ev["values"], args.rows,
                                        args.reference_rows)
            res["agreement"] = agreement(res["comparison"])
    finally:
        if args.keep:
            log(f"[bench] outputs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    res["load_after"] = load()
    write_json(args.out, res)
    print(json.dumps(res, indent=1, default=str) if args.output == "json" else table(res))


if __name__ == "__main__":
    main()
