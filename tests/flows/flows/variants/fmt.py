from promptflow.core import tool


@tool
def fmt(text: str, style: str, repeat: int = 1) -> str:
    out = {"plain": text, "upper": text.upper(), "title": text.title()}[style]
    return " ".join([out] * repeat)
