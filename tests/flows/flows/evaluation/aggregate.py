from typing import List

from promptflow.core import log_metric, tool


@tool
def aggregate(processed_results: List[str], groundtruths: List[str]) -> float:
    assert len(groundtruths) == len(processed_results)
    results_num = len(processed_results)
    correct_num = processed_results.count("Correct")
    log_metric(key="accuracy", value=round(correct_num / results_num, 2))
    return round(correct_num / results_num, 2)
