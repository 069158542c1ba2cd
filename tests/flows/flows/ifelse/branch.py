from promptflow.core import tool


@tool
def branch(label: str, number: int) -> str:
    return f"{number} is {label}"
