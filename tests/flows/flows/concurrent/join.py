from promptflow.core import tool


@tool
def join(a: str, b: str) -> list:
    return [a, b]
