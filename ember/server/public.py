"""What of an error text an API caller may see: no traceback, no server path.

A worker's start-up failure or a build error arrives as a log tail; the caller gets its summary
(the exception line of each traceback) and the server's folders as ``$EMBER_HOME``. The whole
text stays in the server's and the deployment's logs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TRACEBACK_HEAD = "Traceback (most recent call last):"
# A traceback frame ("  File ..."), its source line(s), carets, and chained-exception notes.
_FRAME = re.compile(r'^\s+(File "|\S)|^\s*$')
_CHAINED = ("During handling of the above exception", "The above exception was the direct")


class PublicText:
    """Callable: a text made fit for an API caller. ``roots`` are the server's own folders."""

    def __init__(self, roots: Iterable[str]) -> None:
        # Longest first, so a folder inside another is replaced whole.
        self.roots = sorted({r.rstrip("/") for r in roots if r and r.strip("/")},
                            key=len, reverse=True)

    def __call__(self, text: str) -> str:
        if _TRACEBACK_HEAD in text:
            text = summarise_tracebacks(text)
        for root in self.roots:
            text = text.replace(root, "$EMBER_HOME")
        return text


def summarise_tracebacks(text: str) -> str:
    """Each Python traceback in ``text`` reduced to its last line (``Type: message``)."""
    out: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.startswith(_TRACEBACK_HEAD):
            in_traceback = True
            continue
        if line.startswith(_CHAINED):
            continue
        if in_traceback:
            if _FRAME.match(line):
                continue
            in_traceback = False
        out.append(line)
    return "\n".join(out)
