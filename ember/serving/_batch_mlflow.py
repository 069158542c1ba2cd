"""No-code MLflow batch scoring: each file read as a table, predicted, one output row per row.

Imported by the batch worker only for ``kind: mlflow``; pandas and mlflow load when the scorer
is built, so importing this module costs nothing. Output rows are ``<row>,<prediction>,<file>``
without a header (Azure ML's MLflow batch output); a prediction that is a list or a record (a
multi-output model) is written as JSON in one CSV cell.
"""

from __future__ import annotations

import csv
import io
import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ember.serving._batch_worker import Outcome
else:  # run inside the job by file path: the sibling is a top-level module there
    from _batch_worker import Outcome

READERS = (".csv", ".tsv", ".parquet", ".json", ".jsonl")


class MlflowFileScorer:
    """Loads ``model_path`` with ``mlflow.pyfunc.load_model``; scores a mini-batch of files.

    A file that cannot be read or predicted is reported as failed; the others go on.
    """

    def __init__(self, model_path: str, want_text: bool) -> None:
        import mlflow.pyfunc
        import pandas as pd

        self.pd = pd
        self.model = mlflow.pyfunc.load_model(model_path)
        self.want_text = want_text

    def __call__(self, files: list[str]) -> Outcome:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        failed: list[tuple[str, str]] = []
        for path in files:
            try:
                predictions = self._predictions(self.model.predict(self.read_table(path)))
            except Exception as exc:
                reason = getattr(exc, "message", None) or str(exc)
                failed.append((path, f"{type(exc).__name__}: {reason}"))
                continue
            if self.want_text:
                name = os.path.basename(path)
                writer.writerows([i, _cell(p), name] for i, p in enumerate(predictions))
        return Outcome(out.getvalue(), len(files) - len(failed), failed)

    def read_table(self, path: str) -> Any:
        pd = self.pd
        ext = os.path.splitext(path)[1].lower()
        if ext == ".csv":
            return pd.read_csv(path)
        if ext == ".tsv":
            return pd.read_csv(path, sep="\t")
        if ext == ".parquet":
            try:
                return pd.read_parquet(path)
            except ImportError:
                raise ImportError("reading .parquet files needs pyarrow (or fastparquet) in the "
                                  "deployment's environment") from None
        if ext in (".json", ".jsonl"):
            return pd.read_json(path, lines=ext == ".jsonl")
        raise ValueError(f"cannot read {ext or 'extension-less'} files: an MLflow deployment "
                         f"without a scoring script reads {', '.join(READERS)}")

    def _predictions(self, result: Any) -> list[Any]:
        """The model's output → one value per input row."""
        if isinstance(result, dict):  # named outputs: one column each
            result = self.pd.DataFrame(result)
        if hasattr(result, "columns"):
            if len(result.columns) == 1:
                return list(result.iloc[:, 0].tolist())
            return list(result.to_dict(orient="records"))
        tolist = getattr(result, "tolist", None)
        if tolist is not None:  # numpy array, pandas Series
            result = tolist()
        return list(result) if isinstance(result, (list, tuple)) else [result]


def _cell(value: Any) -> Any:
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return value
