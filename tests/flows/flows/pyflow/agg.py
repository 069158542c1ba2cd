from typing import List

from promptflow.core import log_metric, tool


@tool
def aggregate(lengths: List[int]) -> dict:
    mean = sum(lengths) / len(lengths)
    log_metric(key="mean_length", value=mean)
    log_metric(key="n", value=len(lengths))
    return {"mean_length": mean, "n": len(lengths)}
