from promptflow.core import log_metric, tool


@tool
def score(words: list) -> float:
    mean = sum(words) / len(words)
    log_metric("mean_words", mean)
    return mean
