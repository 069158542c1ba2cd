import asyncio

from promptflow.core import tool


@tool
async def shout(text: str) -> str:
    await asyncio.sleep(0)
    return text.upper() + "!"
