"""The entry points' one shared habit: a failure is one line on stderr and an exit status, never
a traceback in the job's log (the job's error then names what went wrong)."""

from __future__ import annotations

import sys
from collections.abc import Callable

from ember.errors import EmberError


def one_line_errors(work: Callable[[], object], *, prefix: str = "error: ", code: int = 2,
                    also: tuple[type[Exception], ...] = ()) -> int:
    """Run ``work``; an EmberError (or one of ``also``) is printed as ``prefix`` + its message
    and gives ``code``; success gives 0."""
    try:
        work()
    except EmberError as exc:
        print(f"{prefix}{exc.message}", file=sys.stderr, flush=True)
        return code
    except also as exc:
        print(f"{prefix}{exc}", file=sys.stderr, flush=True)
        return code
    return 0
