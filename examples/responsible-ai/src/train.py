"""Train a loan-approval classifier on an MLTable folder and save it as an MLflow model (sklearn
flavor) in the step's output folder, as Azure's Responsible AI examples do."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlflow.sklearn
import pandas as pd
import yaml
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler


def read_mltable(folder: Path) -> pd.DataFrame:
    """The one CSV file the MLTable names (the example's data is written that way)."""
    spec = yaml.safe_load((folder / "MLTable").read_text())
    return pd.concat([pd.read_csv(folder / p["file"]) for p in spec["paths"]], ignore_index=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--training_data", type=Path, required=True)
    parser.add_argument("--target_column_name", required=True)
    parser.add_argument("--categorical_features", type=json.loads, default=[])
    parser.add_argument("--continuous_features", type=json.loads, default=[])
    parser.add_argument("--model_output", required=True)
    args = parser.parse_args()

    data = read_mltable(args.training_data)
    x, y = data.drop(columns=[args.target_column_name]), data[args.target_column_name]
    model = Pipeline([
        ("preprocess", ColumnTransformer([
            ("num", StandardScaler(), args.continuous_features),
            ("cat", OneHotEncoder(handle_unknown="ignore"), args.categorical_features)])),
        ("classifier", LogisticRegression(max_iter=1000)),
    ]).fit(x, y)
    print(f"training accuracy {model.score(x, y):.3f}")
    mlflow.sklearn.save_model(model, args.model_output)


if __name__ == "__main__":
    main()
