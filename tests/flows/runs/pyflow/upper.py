from promptflow.core import tool


@tool
def upper(greeting: str) -> str:
    if "bad" in greeting:
        raise ValueError(f"bad line {greeting}")
    return greeting.upper()
