"""The evidently side of ``bench_monitor_run.py``; runs in evidently's own virtual environment
(evidently 0.7.23 needs ``pandas<3``), started by the benchmark as a subprocess. Not Ember code:
it imports nothing from Ember.

What an evidently user would write for the monitor run: read the collected payload files
(``<folder>/YYYY/MM/DD/HH/data.jsonl``) with pandas, flatten each request's
``data.input_data`` rows into one DataFrame, read the reference CSV with pandas, and run one
``Report`` with, per numerical feature, ``ValueDrift`` with the stattests ``wasserstein``
(normalized), ``jensenshannon``, ``psi`` and ``ks``; per categorical feature ``jensenshannon``,
``psi`` and ``chisquare``; and per feature ``MissingValueCount`` and the nearest thing evidently
has to an out-of-bounds rate, ``OutRangeValueCount`` (numerical, bounds = the reference's min and
max, worked out by the user in pandas) / ``OutListValueCount`` (categorical, the reference's
values). evidently has no data type error rate.

Usage (by the benchmark): python _monitor_evidently.py --production DIR --reference CSV
    --numerical a,b --categorical c,d --out RESULT.json --snapshot SNAPSHOT.json
Prints nothing on success; the timings and every metric value go to --out.
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pandas as pd  # noqa: E402
from evidently import DataDefinition, Dataset, Report  # noqa: E402
from evidently.metrics import (  # noqa: E402
    MissingValueCount,
    OutListValueCount,
    OutRangeValueCount,
    ValueDrift,
)

_T_IMPORTED = time.perf_counter()

NUMERICAL_METHODS = ("wasserstein", "jensenshannon", "psi", "ks")
CATEGORICAL_METHODS = ("jensenshannon", "psi", "chisquare")


def collected_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*/*/*/*/data.jsonl"))


def read_with_pandas(folder: Path) -> pd.DataFrame:
    """``pd.read_json(lines=True)`` per hourly file, then each request's rows flattened."""
    frames = []
    for path in collected_files(folder):
        records = pd.read_json(path, lines=True, dtype=False, convert_dates=False)
        columns: list[str] | None = None
        rows: list[list[object]] = []
        for data in records["data"]:
            inputs = data["input_data"]
            columns = inputs["columns"]
            rows.extend(inputs["data"])
        frames.append(pd.DataFrame(rows, columns=columns))
    return pd.concat(frames, ignore_index=True)


def read_with_json(folder: Path) -> pd.DataFrame:
    """The same with ``orjson`` (or ``json``) line by line: the fastest plain-Python reading."""
    try:
        import orjson
        loads = orjson.loads
    except ImportError:
        loads = json.loads
    columns: list[str] | None = None
    rows: list[list[object]] = []
    for path in collected_files(folder):
        with open(path, "rb") as fh:
            for line in fh:
                inputs = loads(line)["data"]["input_data"]
                columns = inputs["columns"]
                rows.extend(inputs["data"])
    return pd.DataFrame(rows, columns=columns)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--production", required=True, type=Path)
    p.add_argument("--reference", required=True, type=Path)
    p.add_argument("--numerical", required=True)
    p.add_argument("--categorical", required=True)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("--snapshot", required=True, type=Path)
    p.add_argument("--reader", choices=("pandas", "json", "both"), default="both")
    args = p.parse_args()
    numerical = [c for c in args.numerical.split(",") if c]
    categorical = [c for c in args.categorical.split(",") if c]
    times: dict[str, float] = {"import_s": _T_IMPORTED - _T_START}

    t0 = time.perf_counter()
    reference = pd.read_csv(args.reference, dtype={c: str for c in categorical})
    times["read_reference_s"] = time.perf_counter() - t0
    current = None
    if args.reader in ("pandas", "both"):
        t0 = time.perf_counter()
        current = read_with_pandas(args.production)
        times["read_production_pandas_s"] = time.perf_counter() - t0
    if args.reader in ("json", "both"):
        t0 = time.perf_counter()
        by_json = read_with_json(args.production)
        times["read_production_json_s"] = time.perf_counter() - t0
        if current is not None:
            assert by_json.shape == current.shape, (by_json.shape, current.shape)
        del current
        current = by_json
    assert current is not None
    times["read_production_s"] = min(v for k, v in times.items()
                                     if k.startswith("read_production_"))

    t0 = time.perf_counter()
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    ref_ds = Dataset.from_pandas(reference, data_definition=definition)
    cur_ds = Dataset.from_pandas(current, data_definition=definition)
    times["datasets_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    drift = [ValueDrift(column=c, method=m) for c in numerical for m in NUMERICAL_METHODS]
    drift += [ValueDrift(column=c, method=m) for c in categorical for m in CATEGORICAL_METHODS]
    drift_snapshot = Report(drift).run(current_data=cur_ds, reference_data=ref_ds)
    times["compute_drift_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    quality: list[object] = [MissingValueCount(column=c) for c in numerical + categorical]
    lows, highs = reference[numerical].min(), reference[numerical].max()
    quality += [OutRangeValueCount(column=c, left=float(lows[c]), right=float(highs[c]))
                for c in numerical]
    quality += [OutListValueCount(column=c, values=sorted(reference[c].dropna().unique()))
                for c in categorical]
    quality_snapshot = Report(quality).run(current_data=cur_ds, reference_data=ref_ds)  # type: ignore[arg-type]
    times["compute_quality_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    snapshot = {"drift": drift_snapshot.dict(), "quality": quality_snapshot.dict()}
    args.snapshot.write_text(json.dumps(snapshot, default=str))
    times["write_s"] = time.perf_counter() - t0

    values: dict[str, float | None] = {}
    for snap in (drift_snapshot, quality_snapshot):
        for metric in snap.dict()["metrics"]:
            cfg = metric["config"]
            kind = cfg["type"].rsplit(":", 1)[-1].rsplit(".", 1)[-1]
            value = metric["value"]
            name = kind + (f":{cfg['method']}" if cfg.get("method") else "")
            if isinstance(value, dict):
                for part in ("count", "share"):
                    values[f"{cfg['column']}|{name}.{part}"] = _num(value.get(part))
            else:
                values[f"{cfg['column']}|{name}"] = _num(value)
    result = {"times": times, "rows": {"production": int(len(current)),
                                       "reference": int(len(reference))},
              "values": values, "versions": {"evidently": _version(), "pandas": pd.__version__,
                                             "python": sys.version.split()[0]}}
    args.out.write_text(json.dumps(result, indent=1))


def _num(value: object) -> float | None:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def _version() -> str:
    from evidently import __version__
    return str(__version__)


if __name__ == "__main__":
    main()
