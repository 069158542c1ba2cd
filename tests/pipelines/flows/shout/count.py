from promptflow.core import log_metric, tool


@tool
def count(outputs: list) -> dict:
    log_metric("shouted", len(outputs))
    return {"shouted": len(outputs)}
