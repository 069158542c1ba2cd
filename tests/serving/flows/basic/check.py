import threading

from promptflow.core import tool

# Two requests whose question starts with "meet" wait here for each other: both return only
# when the server runs them at the same time (one after the other, the barrier breaks).
BARRIER = threading.Barrier(2, timeout=30)


@tool
def check(question: str) -> int:
    if question == "boom":
        raise ValueError("the question was boom")
    if question.startswith("meet"):
        BARRIER.wait()
    return len(question)
