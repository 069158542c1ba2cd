from promptflow.core import tool


@tool
def pieces(text: str, times: int):
    for i in range(times):
        yield f"{text}{i};"
