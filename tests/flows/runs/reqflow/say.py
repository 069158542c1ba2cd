from promptflow.core import tool


@tool
def say(text: str) -> str:
    import cowsay
    return cowsay.get_output_string("cow", text).splitlines()[1].strip()
