from promptflow.core import tool


@tool
def answer(question: str, name: str, length: int) -> str:
    return f"Hello {name}: {question.upper()} ({length})"
