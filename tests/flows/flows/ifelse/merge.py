from promptflow.core import tool


@tool
def merge(even: str = "", odd: str = "") -> str:
    # A bypassed branch arrives as the parameter's default ("").
    return even or odd
