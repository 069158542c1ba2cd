from promptflow.core import tool

from pkgdir.words import BRACKETS


@tool
def dir_tool(text: str) -> str:
    return BRACKETS[0] + text + BRACKETS[1]
