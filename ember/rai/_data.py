"""Tabular data and the insights folder.

An ``mltable`` input is a folder holding an ``MLTable`` file: its ``paths`` (``file``, ``folder``
or ``pattern``, relative to the folder) and the reading transformation (``read_delimited`` with
``delimiter`` and ``header``, ``read_parquet``, ``read_json_lines``; none: by the files'
extensions), then ``keep_columns`` / ``drop_columns``. A plain CSV/Parquet/JSON Lines file or a
folder of them is read too. Remote paths are refused: a step's inputs are on this machine.

The constructor's output (``rai_insights_dashboard``) is the *insights folder*, read by every
other component: ``rai_insights.json`` (the analysis' settings), ``train.parquet``,
``test.parquet``, ``predictions.parquet`` (the model's test predictions) and ``model/`` (the
MLflow model).
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ember.errors import InvalidInputError
from ember.rai._deps import require

if TYPE_CHECKING:
    import pandas as pd

CONFIG = "rai_insights.json"
INSIGHT = "insight.json"
_TABULAR = {".csv": "csv", ".tsv": "tsv", ".txt": "csv", ".parquet": "parquet",
            ".jsonl": "jsonl", ".json": "jsonl"}


def read_table(path: Path, what: str) -> pd.DataFrame:
    """The table at ``path`` (an MLTable folder, a folder of data files, or one file)."""
    pd = require("pandas")
    if not path.exists():
        raise InvalidInputError(f"{what}: {path} does not exist")
    if path.is_dir() and (path / "MLTable").is_file():
        frame = _read_mltable(path, what)
    else:
        files = _data_files(path, what)
        frame = pd.concat([_read_file(f, None, {}, what) for f in files], ignore_index=True)
    if frame.empty or len(frame.columns) == 0:
        raise InvalidInputError(f"{what}: the data at {path} has no rows")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def _data_files(path: Path, what: str) -> list[Path]:
    if path.is_file():
        return [path]
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _TABULAR)
    if not files:
        raise InvalidInputError(f"{what}: no MLTable file and no CSV, Parquet or JSON Lines file "
                                f"in {path}")
    return files


def _read_mltable(folder: Path, what: str) -> pd.DataFrame:
    pd = require("pandas")
    from ruamel.yaml import YAML, YAMLError

    try:
        spec = YAML(typ="safe").load((folder / "MLTable").read_text(encoding="utf-8")) or {}
    except (YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{what}: {folder / 'MLTable'} is not YAML: "
                                f"{str(exc).splitlines()[0]}") from None
    if not isinstance(spec, dict):
        raise InvalidInputError(f"{what}: {folder / 'MLTable'} must be a mapping")
    files: list[Path] = []
    for entry in spec.get("paths") or []:
        if not isinstance(entry, dict) or len(entry) != 1:
            raise InvalidInputError(f"{what}: MLTable paths entries are {{file|folder|pattern: "
                                    f"...}}, got {entry!r}")
        (kind, value), = entry.items()
        files.extend(_mltable_paths(folder, str(kind), str(value), what))
    if not files:
        raise InvalidInputError(f"{what}: the MLTable in {folder} names no file")
    reader: str | None = None
    options: dict[str, Any] = {}
    columns: list[tuple[str, list[str]]] = []
    for step in spec.get("transformations") or []:
        name, args = (next(iter(step.items())) if isinstance(step, dict) and len(step) == 1
                      else (str(step), {}))
        if name in ("read_delimited", "read_parquet", "read_json_lines"):
            reader, options = name, dict(args or {})
        elif name in ("keep_columns", "drop_columns"):
            columns.append((name, [args] if isinstance(args, str) else list(args or [])))
        else:
            raise InvalidInputError(f"{what}: MLTable transformation {name!r} is not supported "
                                    "(read_delimited, read_parquet, read_json_lines, "
                                    "keep_columns, drop_columns)")
    frame = pd.concat([_read_file(f, reader, options, what) for f in files], ignore_index=True)
    for name, cols in columns:
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise InvalidInputError(f"{what}: MLTable {name} names missing column(s) "
                                    f"{', '.join(missing)}")
        frame = frame[cols] if name == "keep_columns" else frame.drop(columns=cols)
    return frame


def _mltable_paths(folder: Path, kind: str, value: str, what: str) -> list[Path]:
    if "://" in value or value.startswith("/"):
        raise InvalidInputError(f"{what}: the MLTable names {value!r}; Ember reads MLTable "
                                "paths relative to its folder")
    if kind == "file":
        target = folder / value
        if not target.is_file():
            raise InvalidInputError(f"{what}: the MLTable names file {value!r}, which is not "
                                    f"in {folder}")
        return [target]
    if kind == "folder":
        return _data_files(folder / value, what)
    if kind == "pattern":
        return sorted(p for p in folder.glob(value.lstrip("./")) if p.is_file())
    raise InvalidInputError(f"{what}: MLTable paths take file, folder or pattern, not {kind!r}")


def _read_file(path: Path, reader: str | None, options: dict[str, Any],
               what: str) -> pd.DataFrame:
    pd = require("pandas")
    kind = {"read_delimited": "csv", "read_parquet": "parquet",
            "read_json_lines": "jsonl"}.get(reader or "") or _TABULAR.get(path.suffix.lower())
    try:
        if kind == "parquet":
            return pd.read_parquet(path)
        if kind == "jsonl":
            return pd.read_json(path, lines=True)
        if kind in ("csv", "tsv"):
            header = options.get("header", "all_files_same_headers")
            delimiter = options.get("delimiter") or ("\t" if kind == "tsv" else ",")
            return pd.read_csv(path, sep=delimiter,
                               header=None if header == "no_header" else 0,
                               encoding=options.get("encoding", "utf8"))
    except Exception as exc:   # noqa: BLE001 - pandas raises many kinds; name the file
        raise InvalidInputError(f"{what}: cannot read {path.name}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                ) from None
    raise InvalidInputError(f"{what}: {path.name} is not a CSV, Parquet or JSON Lines file")


# --- the insights folder -------------------------------------------------------------------


@dataclass
class Insights:
    """The constructor's folder, loaded: its settings, data, test predictions and model."""

    folder: Path
    config: dict[str, Any]
    train: pd.DataFrame
    test: pd.DataFrame
    predictions: pd.DataFrame
    _model: Any = field(default=None, repr=False)

    @property
    def id(self) -> str:
        return str(self.config["id"])

    @property
    def target(self) -> str:
        return str(self.config["target_column_name"])

    @property
    def features(self) -> list[str]:
        return list(self.config["features"])

    @property
    def categorical(self) -> list[str]:
        return list(self.config["categorical_features"])

    @property
    def numeric(self) -> list[str]:
        return [f for f in self.features if f not in self.categorical]

    @property
    def is_classification(self) -> bool:
        return self.config["task_type"] == "classification"

    @property
    def labels(self) -> list[Any]:
        """The classes' values, in the model's order (classification)."""
        return list(self.config.get("labels") or [])

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_sklearn_model(self.folder / "model", "rai_insights_dashboard")
        return self._model


def load_sklearn_model(folder: Path, what: str) -> Any:
    """The sklearn flavor of the MLflow model in ``folder``."""
    spec = folder / "MLmodel"
    if not spec.is_file():
        raise InvalidInputError(f"{what}: {folder} is not an MLflow model (no MLmodel file)")
    from ruamel.yaml import YAML

    flavors = (YAML(typ="safe").load(spec.read_text(encoding="utf-8")) or {}).get("flavors") or {}
    if "sklearn" not in flavors:
        raise InvalidInputError(f"{what}: the MLflow model in {folder} has flavor(s) "
                                f"{', '.join(sorted(flavors)) or 'none'}; the Responsible AI "
                                "components need an sklearn-flavor model")
    require("sklearn")
    mlflow_sklearn = require("mlflow.sklearn")
    try:
        return mlflow_sklearn.load_model(str(folder))
    except Exception as exc:   # noqa: BLE001 - a pickle can fail in many ways; one line
        raise InvalidInputError(f"{what}: cannot load the sklearn model in {folder}: "
                                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                                ) from None


def write_insights(out: Path, config: dict[str, Any], train: pd.DataFrame, test: pd.DataFrame,
                   predictions: pd.DataFrame, model_folder: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    train.to_parquet(out / "train.parquet", index=False)
    test.to_parquet(out / "test.parquet", index=False)
    predictions.to_parquet(out / "predictions.parquet", index=False)
    if model_folder.resolve() != (out / "model").resolve():   # not fetched there already
        if (out / "model").exists():
            shutil.rmtree(out / "model")
        shutil.copytree(model_folder, out / "model")
    write_json(out / CONFIG, config)


def load_insights(folder: Path, what: str = "rai_insights_dashboard",
                  *, with_train: bool = True) -> Insights:
    pd = require("pandas")
    spec = folder / CONFIG
    if not spec.is_file():
        raise InvalidInputError(f"{what}: {folder} is not the output of "
                                "rai_tabular_insight_constructor (no rai_insights.json)")
    config = read_json(spec, what)
    train = pd.read_parquet(folder / "train.parquet") if with_train else pd.DataFrame()
    return Insights(folder, config, train, pd.read_parquet(folder / "test.parquet"),
                    pd.read_parquet(folder / "predictions.parquet"))


def write_insight(out: Path, kind: str, insights: Insights, data: dict[str, Any],
                  settings: dict[str, Any]) -> None:
    """One insight component's output folder: ``insight.json``."""
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / INSIGHT, {"type": kind, "constructor_id": insights.id,
                               "settings": settings, "data": data})


def read_insight(folder: Path, what: str) -> dict[str, Any]:
    spec = folder / INSIGHT
    if not spec.is_file():
        raise InvalidInputError(f"{what}: {folder} is not the output of a Responsible AI insight "
                                "component (no insight.json)")
    return read_json(spec, what)


def read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{what}: cannot read {path.name}: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidInputError(f"{what}: {path.name} must hold a JSON object")
    return value


def write_json(path: Path, value: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(plain(value), indent=1, allow_nan=False) + "\n", encoding="utf-8")


def plain(value: Any) -> Any:
    """``value`` as plain JSON data: numpy scalars and arrays made Python, NaN and infinities
    None, tuples and sets lists, other objects their ``str``."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if hasattr(value, "tolist"):        # numpy arrays and scalars
        return plain(value.tolist())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, int, bool)):
        return value
    return str(value)


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
