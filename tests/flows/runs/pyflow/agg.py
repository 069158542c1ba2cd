from promptflow.core import log_metric, tool


@tool
def agg(lengths: list) -> dict:
    log_metric("mean_length", sum(lengths) / len(lengths))
    log_metric("n", len(lengths))
    return {"n": len(lengths)}
