from promptflow.connections import CustomConnection
from promptflow.core import tool


@tool
def ask(conn: CustomConnection, question: str, max_tokens: int = 16) -> str:
    assert isinstance(max_tokens, int)
    return f"{conn.endpoint}|{conn['token']}|{question}|{max_tokens * 2}"
