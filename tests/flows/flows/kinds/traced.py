from promptflow.core import tool
from promptflow.tracing import trace


@trace
def helper(text: str) -> str:
    return text[::-1]


@tool
def traced(text: str) -> str:
    return helper(text)
