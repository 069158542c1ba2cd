from promptflow.connections import CustomConnection
from promptflow.core import tool

from shared import PREFIX


@tool
def decorate(text: str, conn: CustomConnection) -> str:
    return f"{PREFIX}{conn.configs['sep']}{text}"
