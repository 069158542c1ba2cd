from promptflow.core import ToolProvider, tool


class Prefixer(ToolProvider):
    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    @tool
    def apply(self, text: str, upper: bool = False) -> str:
        return self.prefix + (text.upper() if upper else text)
