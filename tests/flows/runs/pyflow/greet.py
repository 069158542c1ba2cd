from promptflow import tool


@tool
def greet(text: str) -> dict:
    return {"greeting": f"Hello {text}", "length": len(text) + 6}
