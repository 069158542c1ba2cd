"""Online scoring script (Azure ML contract): init() once per worker, run(raw_data) per request."""

import json
import logging
import os

scale = 1.0


def init():
    global scale
    # AZUREML_MODEL_DIR holds the registered folder under its base name ("model").
    path = os.path.join(os.environ["AZUREML_MODEL_DIR"], "model", "weights.txt")
    scale = float(open(path).read())
    logging.warning("model loaded: scale=%s", scale)


def run(raw_data):
    data = json.loads(raw_data)["data"]
    return {"predictions": [x * scale for x in data],
            "deployment": os.environ.get("DEPLOYMENT_COLOR", "")}
