from promptflow.core import tool


@tool
def say(text: str) -> str:
    return text
