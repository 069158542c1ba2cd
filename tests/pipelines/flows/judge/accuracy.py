from promptflow.core import log_metric, tool


@tool
def accuracy(verdicts: list) -> dict:
    value = verdicts.count("Correct") / len(verdicts)
    log_metric("accuracy", value)
    return {"accuracy": value}
