import threading

from promptflow.core import tool

# Both nodes use this file, so they share one barrier: each waits for the other, which only
# returns when the two run at the same time (run one after the other, it breaks after 10 s).
BARRIER = threading.Barrier(2, timeout=10)


@tool
def meet(side: str) -> str:
    BARRIER.wait()
    return side
