from promptflow.core import tool


@tool
def count(text: str) -> int:
    # The generator upstream arrives joined into one string.
    return text.count(";")
