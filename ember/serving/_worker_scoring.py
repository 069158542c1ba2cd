"""What the worker calls per request: the scorer contract, scoring scripts, result encoding.

Standard library only: numpy and pandas results are recognised by duck typing, never imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# A scorer takes the raw request body and returns the model's answer (any JSON-able value, or
# bytes). It raises BadRequest for a payload it refuses; anything else it raises is the user's
# error (500 USER_ERROR). A scorer that serialises its calls also has ``blocked_for() -> float``
# (see ScriptScorer); one without it never blocks a later call.
Scorer = Callable[[bytes], object]


class BadRequest(Exception):
    """The payload is refused before or by the model's input check (400 BAD_REQUEST)."""


def _jsonable(value: Any) -> Any:
    """``json.dumps`` fallback for numpy/pandas values and datetimes, without importing them."""
    if hasattr(value, "columns") and hasattr(value, "to_dict"):
        return value.to_dict(orient="records")  # pandas DataFrame
    tolist = getattr(value, "tolist", None)
    if tolist is not None:
        return tolist()  # numpy array or scalar, pandas Series or Index
    isoformat = getattr(value, "isoformat", None)
    if isoformat is not None:
        return isoformat()  # datetime, date, pandas Timestamp
    if isinstance(value, (set, frozenset)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_result(value: object) -> tuple[bytes, str]:
    """The reply body and its content type. A ``str`` is JSON-encoded like any value (as Azure
    does); ``bytes`` go out as they are."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value), "application/octet-stream"
    return json.dumps(value, default=_jsonable).encode(), "application/json"


def _module_name(script: Path) -> str:
    # Register under the script's own name so that pickles and ``import score`` from sibling
    # modules resolve to the same module, unless that would shadow a loaded module.
    name = script.stem
    if name.isidentifier() and name not in sys.modules:
        return name
    return "_ember_scoring_script"


def import_script(code_dir: Path, scoring_script: str,
                  run_signature: str) -> Callable[[Any], Any]:
    """Import a scoring script by path, call its ``init()`` once, return its ``run``.

    ``code_dir`` and the script's own folder go first on ``sys.path``, as on Azure. Shared by
    online workers and batch workers (``run_signature`` names ``run``'s argument in the error
    for a script without one). Raises whatever the import or ``init()`` raises.
    """
    code_dir = code_dir.resolve()
    script = (code_dir / scoring_script).resolve()
    if not script.is_file():
        raise FileNotFoundError(f"scoring script {scoring_script!r} not found in {code_dir}")
    for folder in dict.fromkeys([str(script.parent), str(code_dir)]):
        sys.path.insert(0, folder)
    name = _module_name(script)
    spec = importlib.util.spec_from_file_location(name, script)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import scoring script {script}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    run = getattr(module, "run", None)
    if not callable(run):
        raise TypeError(f"scoring script {scoring_script} defines no {run_signature} function")
    init = getattr(module, "init", None)
    if callable(init):
        init()
    return run  # type: ignore[no-any-return]


class ScriptScorer:
    """Calls a scoring script's ``run(raw_data)``, one call at a time.

    Scoring scripts are written for Azure's server, which calls run() one request at a time per
    worker process; user globals are rarely thread-safe, so that guarantee is kept. A run() that
    never returns therefore blocks every later call: :meth:`blocked_for` says for how long, so
    the liveness probe can report it (the worker is then replaced; a thread cannot be stopped).
    """

    def __init__(self, run: Callable[[str], Any]) -> None:
        self._run = run
        self._lock = threading.Lock()
        self._entered: float | None = None

    def __call__(self, body: bytes) -> object:
        try:
            raw_data = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest(f"the request body is not valid UTF-8 text: {exc}") from None
        with self._lock:
            self._entered = time.monotonic()
            try:
                return self._run(raw_data)
            finally:
                self._entered = None

    def blocked_for(self) -> float:
        """Seconds the run() call in progress has held the worker (0.0 when run() is free)."""
        entered = self._entered
        return 0.0 if entered is None else time.monotonic() - entered


def load_script(code_dir: Path, scoring_script: str) -> ScriptScorer:
    """Import the scoring script by path, call its ``init()`` once, return a scorer for ``run``.

    The working directory becomes ``code_dir``. Raises whatever the import or ``init()``
    raises.
    """
    os.chdir(code_dir)
    return ScriptScorer(import_script(code_dir, scoring_script, "run(raw_data)"))
