"""One batch scoring worker process: ``init()`` once, then ``run(mini_batch)`` per task.

Started by ``_batch_pool`` with multiprocessing's spawn context, so it is a fresh interpreter
that imports this module by name from the driver's folder. Standard library only: the job's
Python has neither Ember nor, for a scoring script, necessarily pandas; pandas results are
recognised by duck typing, and the MLflow scorer (``_batch_mlflow``) is imported only for
``kind: mlflow``.

The pipe protocol, driver → worker: ``(index, [file, ...])`` per mini-batch, ``None`` to exit.
Worker → driver: ``("ready", pid)`` once ``init()`` returned, ``("init_failed", traceback)``,
then per task ``("done", index, Outcome)`` or ``("error", index, traceback)``.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any, NamedTuple

HERE = os.path.dirname(os.path.abspath(__file__))


class Outcome(NamedTuple):
    """What one successful ``run()`` call produced."""

    text: str                      # the rows to append to the output file ("" for summary_only)
    returned: int                  # elements run() returned (script) / files scored (mlflow)
    failed: list[tuple[str, str]]  # (file, reason) for the files known to have failed


Scorer = Callable[[list[str]], Outcome]


def worker_main(conn: Connection, settings: dict[str, Any]) -> None:
    """The worker's whole life; ``settings`` is the driver's parsed config (plain JSON types)."""
    _prepare(settings)
    try:
        scorer = load_scorer(settings)
    except BaseException as exc:  # the user's import or init(): the driver ends the job
        conn.send(("init_failed", user_traceback(exc)))
        conn.close()
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the driver went away
            return
        if task is None:
            return
        index, files = task
        try:
            outcome = scorer(files)
        except (Exception, SystemExit) as exc:
            conn.send(("error", index, user_traceback(exc)))
        else:
            conn.send(("done", index, outcome))


def _prepare(settings: dict[str, Any]) -> None:
    # The driver stops its workers itself on Ctrl-C (the terminal signals the whole group).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:  # a killed worker must not lose what it printed
            reconfigure(line_buffering=True)
    logging.basicConfig(level=settings["logging_level"].upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def load_scorer(settings: dict[str, Any]) -> Scorer:
    want_text = settings["output_action"] == "append_row"
    if settings["kind"] == "mlflow":
        import _batch_mlflow  # a sibling, imported by name like this module

        _drop_driver_folder()
        scorer: Scorer = _batch_mlflow.MlflowFileScorer(settings["model_path"], want_text)
        return scorer
    return load_script(settings["scoring_script"], want_text)


def _drop_driver_folder() -> None:
    # The driver's folder is on sys.path only so that its modules could be imported; it holds
    # Ember modules (worker.py, protocol.py...) that must not shadow the user's imports.
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != HERE]


def load_script(scoring_script: str, want_text: bool) -> Scorer:
    """Import the scoring script (relative to the working directory) and call its ``init()``,
    as an online worker does (``_worker_scoring.import_script``)."""
    import _worker_scoring  # a sibling, imported by name like this module

    _drop_driver_folder()
    run = _worker_scoring.import_script(Path.cwd(), scoring_script, "run(mini_batch)")

    def score(files: list[str]) -> Outcome:
        text, returned = encode_result(run(list(files)), want_text)
        return Outcome(text, returned, [])

    return score


def encode_result(result: Any, want_text: bool) -> tuple[str, int]:
    """``run()``'s return → (output rows, number of elements).

    A DataFrame becomes CSV rows without header or index; a list one line per element:
    ``str(element)``, or JSON for dicts and lists.
    """
    if hasattr(result, "columns") and hasattr(result, "to_csv"):  # pandas DataFrame
        count = len(result)
        if not want_text or not count:
            return "", count
        # Default line ends (os.linesep): the keyword was renamed in pandas 1.5.
        return result.to_csv(header=False, index=False), count
    if isinstance(result, tuple) or (not isinstance(result, (list, str, bytes, dict))
                                     and hasattr(result, "tolist")):
        result = list(result)  # a tuple, numpy array or pandas Series: its elements
    if not isinstance(result, list):
        raise TypeError(f"run() returned {type(result).__name__}; it must return a pandas "
                        "DataFrame or a list, one element per successfully processed file")
    if not want_text or not result:
        return "", len(result)
    return "".join(f"{_line(element)}\n" for element in result), len(result)


def _line(element: Any) -> str:
    if isinstance(element, (dict, list, tuple)):
        return json.dumps(element, default=_jsonable)
    return str(element)


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback for numpy/pandas values and datetimes, without importing them."""
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        return isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    return str(value)


def user_traceback(exc: BaseException) -> str:
    """The traceback from the first frame outside the driver (the user's code onwards)."""
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((HERE + os.sep, "<frozen importlib")):
            break
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb))
