"""Shared pieces of the online endpoint tests: a real MLflow sklearn model, a scoring script."""

from __future__ import annotations

import textwrap
from pathlib import Path

SCORE = """
import json, os, threading, time

scale = None
hoard = []

def init():
    global scale
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.txt")
    scale = float(open(path).read())
    print("init done, scale", scale, flush=True)

def run(raw_data):
    data = json.loads(raw_data)
    if data.get("fail"):
        raise ValueError("bad input: fail requested")
    if data.get("sleep"):
        time.sleep(data["sleep"])
    if data.get("hold"):   # a barrier the test controls: run() has started, and waits for it
        open(data["hold"] + ".started", "a").close()
        while not os.path.exists(data["hold"]):
            time.sleep(0.01)
    if data.get("hang"):
        threading.Event().wait()   # never returns
    if data.get("grow_mb"):
        hoard.append(b"\x01" * (data["grow_mb"] << 20))   # written, so resident
    return {"result": [x * scale for x in data.get("data", [])], "pid": os.getpid(),
            "tag": os.environ.get("TAG", "")}
"""


def scoring_project(root: Path, scale: float = 2.0) -> Path:
    """``root/model/weights.txt`` (a custom model) and ``root/src/score.py``."""
    (root / "model").mkdir(parents=True, exist_ok=True)
    (root / "model/weights.txt").write_text(str(scale))
    (root / "src").mkdir(exist_ok=True)
    (root / "src/score.py").write_text(textwrap.dedent(SCORE).lstrip())
    return root


def sklearn_mlflow_model(folder: Path) -> Path:
    """A real MLflow sklearn model with a column signature (x1: double, x2: double)."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    X = pd.DataFrame({"x1": [0.0, 1.0, 0.9, 0.1, 0.8, 0.2], "x2": [1.0, 0.0, 0.1, 0.8, 0.3, 0.9]})
    y = [0, 1, 1, 0, 1, 0]
    clf = LogisticRegression().fit(X, y)
    mlflow.sklearn.save_model(clf, str(folder), signature=infer_signature(X, clf.predict(X)))
    return folder
