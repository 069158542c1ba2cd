from promptflow.core import tool


@tool
def judge(prediction: str, expected: str) -> str:
    return "Correct" if prediction == expected else "Incorrect"
