from promptflow.core import tool


@tool
def helper_tool(text: str) -> str:
    return f"{text} from an include"
