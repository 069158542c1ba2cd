import threading

from promptflow.core import tool


@tool
def maybe_hang(text: str) -> str:
    if text == "hang":
        threading.Event().wait()   # a user function that never returns
    return text.upper()
