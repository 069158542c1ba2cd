from promptflow.core import tool


@tool
def size(vector: list) -> int:
    return len(vector)
