from promptflow.core import tool


@tool
async def talk_async(n: int):
    for i in range(n):
        yield f"a{i} "
