"""Fit y = w*x + b by gradient descent; log the loss with plain MLflow calls."""
import argparse
import json
import time
from pathlib import Path

import mlflow

p = argparse.ArgumentParser()
p.add_argument("--data")
p.add_argument("--epochs", type=int)
p.add_argument("--learning-rate", type=float)
p.add_argument("--out")
p.add_argument("--seconds-per-report", type=float, default=0.0,
               help="pause after each logged loss (stands in for a slower model)")
a = p.parse_args()
lines = (Path(a.data) / "clean.csv").read_text().split()[1:]
pts = [tuple(map(float, line.split(","))) for line in lines]
w = b = 0.0
for epoch in range(a.epochs):
    gw = sum(2 * (w * x + b - y) * x for x, y in pts) / len(pts)
    gb = sum(2 * (w * x + b - y) for x, y in pts) / len(pts)
    w, b = w - a.learning_rate * gw, b - a.learning_rate * gb
    if epoch % 50 == 0 or epoch == a.epochs - 1:
        loss = sum((w * x + b - y) ** 2 for x, y in pts) / len(pts)
        mlflow.log_metric("loss", loss, step=epoch)
        time.sleep(a.seconds_per_report)
(Path(a.out) / "model.json").write_text(json.dumps({"w": w, "b": b}))
print(f"w={w:.3f} b={b:.3f}")
