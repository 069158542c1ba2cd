from promptflow.core import tool


@tool
def upper(greeting: str) -> str:
    return greeting.upper()
