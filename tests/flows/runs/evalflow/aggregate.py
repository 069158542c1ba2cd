from typing import List

from promptflow.core import log_metric, tool


@tool
def aggregate(processed_results: List[str]) -> dict:
    accuracy = round(processed_results.count("Correct") / len(processed_results), 2)
    log_metric(key="accuracy", value=accuracy)
    return {"accuracy": accuracy}
