"""Mean squared error of the model on the data; writes report.json."""
import argparse
import json
from pathlib import Path

import mlflow

p = argparse.ArgumentParser()
p.add_argument("--model")
p.add_argument("--data")
p.add_argument("--out")
a = p.parse_args()
m = json.loads((Path(a.model) / "model.json").read_text())
lines = (Path(a.data) / "clean.csv").read_text().split()[1:]
pts = [tuple(map(float, line.split(","))) for line in lines]
mse = sum((m["w"] * x + m["b"] - y) ** 2 for x, y in pts) / len(pts)
mlflow.log_metric("mse", mse)
(Path(a.out) / "report.json").write_text(json.dumps({"mse": mse, **m}))
print(f"mse={mse:.4f}")
