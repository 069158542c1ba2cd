from promptflow.core import tool


@tool
def classify(number: int) -> dict:
    return {"is_even": number % 2 == 0}
