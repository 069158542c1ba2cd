from promptflow.core import tool


@tool
def shout(text: str, suffix: str) -> str:
    return text.upper() + suffix
