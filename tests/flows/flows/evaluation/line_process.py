from promptflow.core import tool


@tool
def line_process(groundtruth: str, prediction: str) -> str:
    return "Correct" if groundtruth.lower() == prediction.lower() else "Incorrect"
