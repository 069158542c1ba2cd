"""The batch scoring driver: runs a batch deployment's scoring over files, inside the job.

Run as ``python /abs/path/ember/serving/batch_driver.py --input <file-or-folder> --output
<folder>`` with its settings as JSON in ``EMBER_BATCH_CONFIG``; the working directory is a copy of
the deployment's code folder. It runs by file path in the deployment's own Python, where Ember
is not installed, so it and its ``_batch_*`` siblings use the standard library only (pandas,
numpy and mlflow load in the workers, for ``kind: mlflow``).

Azure ML's driver contract: every worker process calls ``init()`` once, then ``run(mini_batch)``
(a list of file paths) for many mini-batches; ``run`` returns a DataFrame or a list, one element
per file it processed. With ``append_row`` every return is appended, in mini-batch order, to
``<output>/<output_file_name>`` (written to a ``.tmp`` file, renamed at the end, removed when the
job fails); with ``summary_only`` the script writes its own output under
``AZUREML_BI_OUTPUT_PATH``. Missing elements and mini-batches that still fail after their retries
count as failed files; more than ``error_threshold`` of those fail the job (exit 1). The totals go
to ``./logs/batch_summary.json``. Exit codes: 0 done, 1 failed, 2 bad config, 128+N on signal N.

    Files: _batch_pool.py (worker processes, retries, timeouts), _batch_worker.py (in a
    worker), _batch_mlflow.py (the no-code MLflow scorer).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.serving._batch_pool import InitFailed, Log, Pool, StopSignal
    from ember.serving._batch_worker import Outcome
else:  # run by file path: the siblings are top-level modules of this file's folder, which is
    # sys.path[0] unless Python runs with -P / -I
    _here = os.path.dirname(os.path.abspath(__file__))
    if _here not in sys.path:
        sys.path.insert(0, _here)
    from _batch_pool import InitFailed, Log, Pool, StopSignal
    from _batch_worker import Outcome

SUMMARY_PATH = os.path.join("logs", "batch_summary.json")
MAX_LISTED = 100  # failed files (and short mini-batches) named in the summary


class ConfigError(Exception):
    """EMBER_BATCH_CONFIG is missing or wrong."""


@dataclass
class Settings:
    kind: str
    scoring_script: str | None
    model_dir: str | None
    model_path: str | None
    mini_batch_size: int = 10
    max_concurrency_per_instance: int = 1
    error_threshold: int = -1
    max_retries: int = 3
    timeout: float = 30.0
    output_action: str = "append_row"
    output_file_name: str = "predictions.csv"
    logging_level: str = "info"

    @classmethod
    def from_json(cls, text: str | None) -> Settings:
        if not text:
            raise ConfigError("EMBER_BATCH_CONFIG is not set")
        try:
            raw = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"EMBER_BATCH_CONFIG is not valid JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise ConfigError("EMBER_BATCH_CONFIG must be a JSON object")
        retry = raw.get("retry_settings") or {}
        if not isinstance(retry, dict):
            raise ConfigError("retry_settings must be an object {max_retries, timeout}")
        settings = cls(
            kind=raw.get("kind") or "", scoring_script=raw.get("scoring_script"),
            model_dir=raw.get("model_dir"), model_path=raw.get("model_path"),
            mini_batch_size=_number(raw, "mini_batch_size", 10, int, 1),
            max_concurrency_per_instance=_number(raw, "max_concurrency_per_instance", 1, int, 1),
            error_threshold=_number(raw, "error_threshold", -1, int, -1),
            max_retries=_number(retry, "max_retries", 3, int, 0),
            timeout=_number(retry, "timeout", 30, float, 0.001),
            output_action=raw.get("output_action") or "append_row",
            output_file_name=raw.get("output_file_name") or "predictions.csv",
            logging_level=str(raw.get("logging_level") or "info").lower())
        settings._check()
        return settings

    def _check(self) -> None:
        if self.kind == "script" and not self.scoring_script:
            raise ConfigError('kind "script" needs "scoring_script" (relative to the code folder)')
        if self.kind == "mlflow" and not self.model_path:
            raise ConfigError('kind "mlflow" needs "model_path" (the MLflow model folder)')
        if self.kind not in ("script", "mlflow"):
            raise ConfigError(f'kind must be "script" or "mlflow", not {self.kind!r}')
        if self.output_action not in ("append_row", "summary_only"):
            raise ConfigError('output_action must be "append_row" or "summary_only", not '
                              f"{self.output_action!r}")
        name = self.output_file_name
        if os.sep in name or (os.altsep and os.altsep in name) or name in (".", ".."):
            raise ConfigError(f"output_file_name must be a file name, not {name!r}")
        if self.logging_level not in ("debug", "info", "warning"):
            raise ConfigError('logging_level must be "info", "warning" or "debug", not '
                              f"{self.logging_level!r}")

    def for_workers(self) -> dict[str, Any]:
        return {"kind": self.kind, "scoring_script": self.scoring_script,
                "model_path": self.model_path, "output_action": self.output_action,
                "logging_level": self.logging_level}


def _number(raw: dict[str, Any], key: str, default: Any, kind: type, low: float) -> Any:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < low \
            or (kind is int and value != int(value)):
        raise ConfigError(f"{key} must be {'an integer' if kind is int else 'a number'} "
                          f">= {low:g}, not {value!r}")
    return kind(value)


def list_inputs(path: str) -> tuple[list[str], list[str]]:
    """(absolute paths, names relative to the input) of the files to score: ``path`` itself, or
    every file under it, recursively, sorted by relative path, hidden files and folders left
    out. Raises FileNotFoundError."""
    path = os.path.abspath(path)
    if os.path.isfile(path):
        return [path], [os.path.basename(path)]
    if not os.path.isdir(path):
        raise FileNotFoundError(f"input {path} does not exist")
    found, seen = [], {os.path.realpath(path)}
    for root, dirs, files in os.walk(path, followlinks=True):
        # Linked folders are followed (a mounted data set), each real folder once (no loops).
        real = {d: os.path.realpath(os.path.join(root, d)) for d in dirs}
        dirs[:] = [d for d in dirs if not d.startswith(".") and real[d] not in seen]
        seen.update(real[d] for d in dirs)
        found += [os.path.relpath(os.path.join(root, f), path).replace(os.sep, "/")
                  for f in files if not f.startswith(".")]
    found.sort()
    return [os.path.join(path, *rel.split("/")) for rel in found], found


class OrderedOutput:
    """Appends mini-batch rows in mini-batch order to ``<final>.tmp``; ``commit`` renames it."""

    def __init__(self, final: str) -> None:
        self.final, self.tmp = final, final + ".tmp"
        self.fh: IO[str] = open(self.tmp, "w", encoding="utf-8", newline="")
        self.next = 0
        self.waiting: dict[int, str] = {}  # finished out of order, written once the gap closes

    def put(self, index: int, text: str) -> None:
        self.waiting[index] = text
        while self.next in self.waiting:
            self.fh.write(self.waiting.pop(self.next))
            self.next += 1

    def commit(self) -> None:
        self.fh.close()
        os.replace(self.tmp, self.final)

    def discard(self) -> None:
        self.fh.close()
        try:
            os.remove(self.tmp)
        except FileNotFoundError:
            pass


@dataclass
class Tally:
    """Counts and progress; ``finish`` is the pool's callback for a finished mini-batch."""

    settings: Settings
    batches: list[list[str]]
    names: list[list[str]]
    log: Log
    output: OrderedOutput | None
    files: int = 0
    done: int = 0
    failed: int = 0
    mini_batches_done: int = 0
    # By mini-batch index, so that the summary lists them in input order at any concurrency.
    failed_files: dict[int, list[str]] = field(default_factory=dict)
    short_mini_batches: dict[int, dict[str, Any]] = field(default_factory=dict)

    def finish(self, index: int, outcome: Outcome | None) -> bool:
        names = self.names[index]
        if outcome is None:  # every attempt failed
            failed = len(names)
            self.failed_files[index] = names
            text = ""
        else:
            by_path = dict(zip(self.batches[index], names))
            for path, reason in outcome.failed:
                name = by_path.get(path, path)
                self.log.error(f"mini-batch {index + 1}: {name} failed: {reason}")
                self.failed_files.setdefault(index, []).append(name)
            missing = max(0, len(names) - len(outcome.failed) - outcome.returned)
            if missing:
                self.log.error(f"mini-batch {index + 1}: run() returned {outcome.returned} "
                               f"element(s) for {len(names)} file(s); {missing} count as "
                               f"failed. Files: {', '.join(names)}")
                self.short_mini_batches[index] = {"mini_batch": index + 1, "files": names,
                                                  "returned": outcome.returned}
            failed = len(outcome.failed) + missing
            text = outcome.text
        if self.output is not None:
            self.output.put(index, text)
        self.done += len(names)
        self.failed += failed
        self.mini_batches_done += 1
        self.log.info(f"{self.done}/{self.files} files done, {self.failed} failed")
        return not self.over_threshold

    @property
    def over_threshold(self) -> bool:
        return 0 <= self.settings.error_threshold < self.failed

    def summary(self, status: str, elapsed: float, output: str | None) -> dict[str, Any]:
        failed_files = [name for i in sorted(self.failed_files) for name in self.failed_files[i]]
        short = [self.short_mini_batches[i] for i in sorted(self.short_mini_batches)]
        return {"status": status, "files": self.files, "succeeded": self.done - self.failed,
                "failed": self.failed, "failed_files": failed_files[:MAX_LISTED],
                "short_mini_batches": short[:MAX_LISTED],
                "mini_batches": len(self.batches), "mini_batches_done": self.mini_batches_done,
                "error_threshold": self.settings.error_threshold,
                "elapsed_seconds": round(elapsed, 3), "output": output}


def _write_summary(summary: dict[str, Any]) -> None:
    os.makedirs(os.path.dirname(SUMMARY_PATH), exist_ok=True)
    tmp = SUMMARY_PATH + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(summary, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, SUMMARY_PATH)


def score(settings: Settings, input_path: str, output_dir: str, stopper: StopSignal) -> int:
    log = Log(settings.logging_level)
    started = time.monotonic()
    try:
        paths, rels = list_inputs(input_path)
    except FileNotFoundError as exc:
        log.error(f"error: {exc}")
        return 1
    output_dir = os.path.abspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    # Exported before any worker starts, so that the user's code sees them from import on.
    os.environ["AZUREML_BI_OUTPUT_PATH"] = output_dir
    if settings.model_dir:
        os.environ["AZUREML_MODEL_DIR"] = settings.model_dir
    size = settings.mini_batch_size
    batches = [paths[i:i + size] for i in range(0, len(paths), size)]
    names = [rels[i:i + size] for i in range(0, len(rels), size)]
    final = os.path.join(output_dir, settings.output_file_name)
    output = OrderedOutput(final) if settings.output_action == "append_row" else None
    tally = Tally(settings, batches, names, log, output, files=len(paths))
    log.info(f"{len(paths)} file(s) in {len(batches)} mini-batch(es) of up to {size}, "
             f"{min(settings.max_concurrency_per_instance, len(batches))} worker(s)")
    pool = Pool(settings.for_workers(), settings.max_concurrency_per_instance,
                settings.timeout, settings.max_retries, log, stopper)
    why = ""
    try:
        result = pool.run(batches, names, tally.finish) if batches else "done"
    except InitFailed as exc:
        result, why = "init_failed", str(exc)
        if exc.detail:
            log.error(exc.detail.rstrip())
    finally:
        pool.close()
    if result == "done" and stopper.signum is None:
        if output is not None:
            output.commit()
    elif output is not None:
        output.discard()
    status = {"done": "completed", "signal": "stopped"}.get(result, "failed")
    if stopper.signum is not None:
        status = "stopped"
    elapsed = time.monotonic() - started
    _write_summary(tally.summary(status, elapsed, final if status == "completed" and output
                                 else None))
    line = (f"{tally.files} file(s) in {len(batches)} mini-batch(es): "
            f"{tally.done - tally.failed} succeeded, {tally.failed} failed, "
            f"{tally.files - tally.done} not run, {elapsed:.1f} s")
    if status == "completed":
        log.always(f"done: {line}" + (f"; output {final}" if output else ""))
        return 0
    log.error(f"{status}: {line}")
    if status == "stopped":
        log.error(f"stopped by signal {stopper.signum}")
        return 128 + (stopper.signum or 15)
    if why:
        log.error(why)
        return 1
    log.error(f"{tally.failed} file(s) failed, over error_threshold {settings.error_threshold}")
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Ember batch scoring driver (runs in a job)")
    parser.add_argument("--input", required=True, help="a file, or a folder of files")
    parser.add_argument("--output", required=True, help="the folder for the output file")
    args = parser.parse_args(argv)
    stopper = StopSignal()
    try:
        settings = Settings.from_json(os.environ.get("EMBER_BATCH_CONFIG"))
    except ConfigError as exc:
        print(f"[batch] error: {exc}", file=sys.stderr, flush=True)
        return 2
    return score(settings, args.input, args.output, stopper)


if __name__ == "__main__":
    sys.exit(main())
