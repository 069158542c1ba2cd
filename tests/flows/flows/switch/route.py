from promptflow.core import tool


@tool
def route(kind: str) -> str:
    return kind.strip().lower()
