from promptflow.core import tool


@tool
def talk(n: int):
    for i in range(n):
        yield f"w{i} "
