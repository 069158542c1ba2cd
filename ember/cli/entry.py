"""The ``ember`` executable. ``ember pf ...`` goes straight to the promptflow-shaped commands
without loading the rest of the CLI (Typer, Rich, the SDK): ``ember pf flow test`` of a
Python-only flow is meant to answer in a fraction of ``pf flow test``'s seconds."""

from __future__ import annotations

import sys


def main() -> None:
    if sys.argv[1:2] == ["pf"]:
        from ember.cli.pf import main as pf_main

        sys.exit(pf_main(sys.argv[2:]))
    from ember.cli.main import main as ember_main

    ember_main()


if __name__ == "__main__":
    main()
