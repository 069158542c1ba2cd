"""``python -m ember.finetune.metrics_component``: the command of Ember's built-in
``compute_metrics`` component: :mod:`ember.finetune.compute_metrics`, with the arguments as a
pipeline step passes them.

In ``model_evaluation_pipeline`` the ``prediction_probabilities`` output of ``model_prediction``
is always bound to ``compute_metrics``, as in Azure's; for a language model it is an empty folder
(only classifiers have probabilities), which means "none" here rather than a missing file.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

OPTIONAL_FOLDERS = ("--prediction-probabilities",)


def without_empty_folders(argv: Sequence[str]) -> list[str]:
    """``argv`` less each optional folder argument whose folder holds no file."""
    out: list[str] = []
    skip = False
    for i, arg in enumerate(argv):
        if skip:
            skip = False
            continue
        if arg in OPTIONAL_FOLDERS and i + 1 < len(argv):
            folder = Path(argv[i + 1])
            if folder.is_dir() and not any(p.is_file() for p in folder.iterdir()):
                skip = True
                continue
        out.append(arg)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from ember.finetune import compute_metrics

    return compute_metrics.main(without_empty_folders(
        list(sys.argv[1:] if argv is None else argv)))


if __name__ == "__main__":
    sys.exit(main())
