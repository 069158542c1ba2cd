"""Fit a logistic regression by gradient descent (standard library only) and log to MLflow."""

import argparse
import csv
import json
import math
import os

import mlflow

parser = argparse.ArgumentParser()
parser.add_argument("--data", required=True)
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--learning-rate", type=float, default=0.5)
parser.add_argument("--model-dir", required=True)
args = parser.parse_args()

print(os.environ.get("HELLO_GREETING", "hello"), "- run", os.environ.get("MLFLOW_RUN_ID"))
with open(args.data, newline="") as fh:
    rows = [(float(r["x1"]), float(r["x2"]), int(r["label"])) for r in csv.DictReader(fh)]
print(f"loaded {len(rows)} rows from {args.data}")

mlflow.log_params({"epochs": args.epochs, "learning_rate": args.learning_rate})
w1 = w2 = b = 0.0
for epoch in range(args.epochs):
    g1 = g2 = gb = 0.0
    loss = correct = 0.0
    for x1, x2, y in rows:
        p = 1 / (1 + math.exp(-(w1 * x1 + w2 * x2 + b)))
        loss -= y * math.log(p + 1e-12) + (1 - y) * math.log(1 - p + 1e-12)
        correct += (p > 0.5) == bool(y)
        g1 += (p - y) * x1
        g2 += (p - y) * x2
        gb += p - y
    n = len(rows)
    w1 -= args.learning_rate * g1 / n
    w2 -= args.learning_rate * g2 / n
    b -= args.learning_rate * gb / n
    mlflow.log_metrics({"loss": loss / n, "accuracy": correct / n}, step=epoch)
    if epoch % 5 == 0 or epoch == args.epochs - 1:
        print(f"epoch {epoch:3d}  loss {loss / n:.4f}  accuracy {correct / n:.3f}")

os.makedirs(args.model_dir, exist_ok=True)
with open(os.path.join(args.model_dir, "model.json"), "w") as fh:
    json.dump({"w1": w1, "w2": w2, "b": b}, fh)
os.makedirs("outputs", exist_ok=True)
with open("outputs/summary.json", "w") as fh:
    json.dump({"final_accuracy": correct / n, "final_loss": loss / n}, fh)
print("model written to", args.model_dir)
