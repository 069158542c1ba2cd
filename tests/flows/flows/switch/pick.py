from promptflow.core import tool


@tool
def pick(a: str = None, b: str = None, c: str = None) -> str:
    found = [x for x in (a, b, c) if x is not None]
    return found[0] if found else "nothing"
