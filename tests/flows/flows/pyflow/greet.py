from promptflow import tool


@tool
def greet(text: str) -> dict:
    if text == "boom":
        raise ValueError("bad line")
    return {"greeting": "Hello " + text, "length": len("Hello " + text)}
