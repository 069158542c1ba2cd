"""``azureml.ai.monitoring`` as Ember's deployment workers serve it (stdlib only): the
``Collector`` an Azure scoring script uses to log its model's inputs and outputs for model
monitoring, when the deployment enables ``data_collector.collections.<name>`` (for example
``model_inputs`` and ``model_outputs``).

    from azureml.ai.monitoring import Collector
    inputs_collector = Collector(name="model_inputs")
    context = inputs_collector.collect(input_df)          # a DataFrame, rows, or one row
    outputs_collector.collect(output_df, context)         # the same correlation id

Each ``collect`` appends one JSON line, in the format the router writes for the ``request`` and
``response`` collections, to ``<collection folder>/YYYY/MM/DD/HH/data.jsonl``, so a monitor reads
either. The worker passes the folders in ``EMBER_DATA_COLLECTIONS``; a collection the deployment
does not enable collects nothing, as on Azure. Only served when the real package is absent.
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
import random as _random
import threading as _threading
from typing import Any

from azureml.ai.monitoring.context import BasicCorrelationContext

__all__ = ["BasicCorrelationContext", "Collector"]

_LOCK = _threading.Lock()


def _config() -> dict[str, Any]:
    try:
        value = _json.loads(_os.environ.get("EMBER_DATA_COLLECTIONS") or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _rows(data: Any) -> Any:
    to_json = getattr(data, "to_json", None)
    if callable(to_json):   # a pandas DataFrame: its own JSON handles numpy types and NaN
        try:
            return _json.loads(to_json(orient="records", date_format="iso",
                                       double_precision=15))
        except TypeError:
            pass
    return data


def _clean(value: Any) -> Any:
    """NaN and infinities as null (JSON has neither)."""
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class Collector:
    def __init__(self, *, name: str, on_error: Any = None, **_: Any) -> None:
        self.name = name
        self.on_error = on_error
        config = _config()
        self._folder = (config.get("collections") or {}).get(name)
        self._rate = float(config.get("sampling_rate", 1.0))
        self._endpoint = config.get("endpoint", "")
        self._deployment = config.get("deployment", "")

    def collect(self, data: Any,
                correlation_context: BasicCorrelationContext | None = None
                ) -> BasicCorrelationContext:
        """Append ``data`` to this collection; returns the context to pass to the next
        collector so both records share one id."""
        context = correlation_context or BasicCorrelationContext()
        if not self._folder or _random.random() >= self._rate:
            return context
        try:
            now = _dt.datetime.now(_dt.timezone.utc)
            record = {"id": context.get_id(),
                      "time": now.isoformat(timespec="milliseconds")[:-6] + "Z",
                      "endpoint": self._endpoint, "deployment": self._deployment,
                      "data": _clean(_rows(data))}
            line = (_json.dumps(record, default=str) + "\n").encode("utf-8")
            folder = _os.path.join(self._folder, f"{now:%Y}", f"{now:%m}", f"{now:%d}",
                                   f"{now:%H}")
            _os.makedirs(folder, exist_ok=True)
            # One write per record on a file opened for appending: lines of several worker
            # processes do not interleave.
            with _LOCK, open(_os.path.join(folder, "data.jsonl"), "ab") as fh:
                fh.write(line)
        except Exception as exc:   # noqa: BLE001 - collection must never fail a request
            if self.on_error is not None:
                self.on_error(exc)
        return context
