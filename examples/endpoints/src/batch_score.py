"""Batch scoring script: run(mini_batch) gets file paths and returns one row per scored file."""

import os

scale = 1.0


def init():
    global scale
    scale = float(open(os.path.join(os.environ["AZUREML_MODEL_DIR"], "model",
                                    "weights.txt")).read())


def run(mini_batch):
    rows = []
    for path in mini_batch:
        value = float(open(path).read())
        rows.append(f"{os.path.basename(path)},{value * scale}")
    return rows
