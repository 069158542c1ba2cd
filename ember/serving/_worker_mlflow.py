"""No-code MLflow deployments: Azure's ``input_data`` payloads → ``pyfunc.predict``.

Imported by the worker only for ``kind: mlflow``, so numpy and pandas load here and nowhere else.
The accepted bodies (Azure ML online endpoints, not ``mlflow models serve``'s keys)::

    {"input_data": {"columns": [...], "index": [...], "data": [[...], ...]}}   split DataFrame
    {"input_data": [[...], ...]}                                                rows / a tensor
    {"input_data": {"a": [...], "b": [...]}}                                    named tensors

plus an optional ``"params"`` object passed to ``predict``. With a column-based signature, rows
and named tensors become a DataFrame with the signature's columns; with a tensor signature (or
none) they become numpy arrays, cast to the signature's dtype as ``mlflow models serve`` does.
MLflow's own signature check on ``predict`` then decides; its refusals are 400s.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING or __package__:
    from ember.serving._worker_scoring import BadRequest
else:  # loaded by path beside a worker run as a file (see worker._sibling): already imported
    from _worker_scoring import BadRequest

FORMS = ('expected a JSON object with a top-level "input_data": a split-orientation DataFrame '
         '{"columns": [...], "index": [...], "data": [[...]]}, a list of rows [[...], ...], or '
         'named tensors {"name": [...], ...}; plus an optional "params" object')
_SPLIT_KEYS = frozenset(("columns", "index", "data"))


def _is_split(value: dict[str, Any]) -> bool:
    return "data" in value and value.keys() <= _SPLIT_KEYS


class _ConversionError(Exception):
    """numpy or pandas could not build the model input from the JSON (raised before predict)."""


class MlflowScorer:
    """Loads ``model_path`` with ``mlflow.pyfunc.load_model``; a scorer (``bytes → result``)."""

    def __init__(self, model_path: str) -> None:
        import mlflow.pyfunc
        from mlflow.exceptions import MlflowException
        from mlflow.types.schema import DataType
        from mlflow.utils.proto_json_utils import cast_df_types_according_to_schema

        self._refused: type[Exception] = MlflowException
        self.model = mlflow.pyfunc.load_model(model_path)
        self.schema = schema = self.model.metadata.get_input_schema()
        # What `mlflow models serve` (and Azure's MLflow scoring script) does to a JSON-built
        # DataFrame: cast each column to the signature's type, so that 5 is accepted for a double
        # and base64 text for binary.
        self._cast = cast_df_types_according_to_schema
        self.columns: list[str] | None = None   # column-based signature: the input columns
        self.dtype: Any = None                  # single unnamed tensor: its numpy dtype
        self.dtypes: dict[str, Any] = {}        # named tensors: name → numpy dtype
        # All columns of one numeric type (the common case for tabular models): rows become
        # one ndarray of that type, so the frame is one block with nothing left to cast.
        self.uniform: Any = None
        if schema is not None and not schema.is_tensor_spec():
            if schema.has_input_names():
                self.columns = list(schema.input_names())
                types = schema.input_types()
                numeric = (DataType.double, DataType.float, DataType.long, DataType.integer)
                if all(t == types[0] for t in types) and types[0] in numeric:
                    self.uniform = types[0].to_numpy()
        elif schema is not None:
            if schema.has_input_names():
                self.dtypes = dict(zip(schema.input_names(), schema.numpy_types()))
            elif len(schema.inputs) == 1:
                self.dtype = schema.numpy_types()[0]
        self.names = frozenset(self.columns or self.dtypes)

    def __call__(self, body: bytes) -> object:
        try:
            payload = json.loads(body)
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise BadRequest(f"the request body is not valid JSON ({exc}); {FORMS}") from None
        if not isinstance(payload, dict) or "input_data" not in payload:
            raise BadRequest(f"the request body has no top-level \"input_data\"; {FORMS}")
        params = payload.get("params")
        if params is not None and not isinstance(params, dict):
            raise BadRequest('"params" must be a JSON object')
        try:
            data = self.convert(payload["input_data"])
            return self.model.predict(data, params=params)
        except self._refused as exc:
            # MLflow's type casts and signature check: the caller's fault, with MLflow's reason.
            raise BadRequest(getattr(exc, "message", str(exc))) from None
        except _ConversionError as exc:
            raise BadRequest(f"cannot convert input_data for the model: {exc}") from None

    def convert(self, value: Any) -> Any:
        """``input_data`` → what ``predict`` takes (DataFrame, ndarray or dict of ndarrays)."""
        try:
            if isinstance(value, list):
                data = self._rows(value)
            elif not isinstance(value, dict):
                raise BadRequest(f'"input_data" is a {type(value).__name__}; {FORMS}')
            elif _is_split(value) and not value.keys() <= self.names:
                data = self._split(value)
            else:
                data = self._named(value)
        except (ValueError, TypeError) as exc:
            raise _ConversionError(str(exc)) from exc
        return data

    def _frame(self, rows: list[Any], columns: Any, index: Any = None) -> pd.DataFrame:
        """A DataFrame of ``rows`` with the signature's column types."""
        if self.uniform is not None and isinstance(columns, list) and \
                self.names.issuperset(columns):
            try:
                block = np.array(rows, dtype=self.uniform)
            except (ValueError, TypeError, OverflowError):
                block = None  # let the general path below find and name the bad column
            if block is not None and block.ndim == 2 and block.shape[1] == len(columns):
                return pd.DataFrame(block, columns=columns, index=index, copy=False)
        return self._typed(pd.DataFrame(rows, columns=columns, index=index))

    def _check_rows(self, rows: list[Any], where: str) -> None:
        assert self.columns is not None
        width = len(self.columns)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != width:
                got = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
                raise BadRequest(
                    f"{where}[{i}] has {got}; the model's signature expects rows of {width} "
                    f"column{'s' if width != 1 else ''} {self.columns}")

    def _split(self, value: dict[str, Any]) -> pd.DataFrame:
        rows, columns = value["data"], value.get("columns")
        if not isinstance(rows, list):
            raise BadRequest('"input_data"."data" must be a list of rows')
        if columns is None and self.columns is not None:
            columns = self.columns
            self._check_rows(rows, "input_data.data")
        return self._frame(rows, columns, value.get("index"))

    def _rows(self, rows: list[Any]) -> Any:
        if self.columns is None:
            return np.asarray(rows, dtype=self.dtype)
        if rows and all(isinstance(row, dict) for row in rows):
            return self._typed(pd.DataFrame(rows))  # records: the columns are named already
        if len(self.columns) == 1 and not any(isinstance(row, list) for row in rows):
            rows = [[v] for v in rows]  # one column given as a flat list of values
        self._check_rows(rows, "input_data")
        return self._frame(rows, self.columns)

    def _named(self, value: dict[str, Any]) -> Any:
        if self.columns is None:
            return {k: np.asarray(v, dtype=self.dtypes.get(k)) for k, v in value.items()}
        if not any(isinstance(v, list) for v in value.values()):
            return self._typed(pd.DataFrame([value]))  # one row given as {column: value}
        return self._typed(pd.DataFrame(value))

    def _typed(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame if self.schema is None else self._cast(frame, self.schema)
