"""Inside a fine-tuning job: write the config file of ``python -m ember.finetune.train``.

The server knows everything the config holds except where the job's data and output folder are
on this machine, which only the job's preparation decides (a mounted datastore file, a
download, a deferred output). So the job's command runs this first: it takes the template the
server put in ``EMBER_FINETUNE_CONFIG`` and the rendered paths as arguments, and writes the
JSON file the training reads (into ``./logs``, so it is kept with the run's artifacts).

Standard library only: it runs on the job's Python before the training starts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

CONFIG_ENV = "EMBER_FINETUNE_CONFIG"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ember.engine.finetuning_config",
                                     description="Write a fine-tuning job's training config.")
    parser.add_argument("--training-data", required=True)
    parser.add_argument("--validation-data")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--out", required=True, help="the config file to write")
    args = parser.parse_args(argv)
    template = os.environ.get(CONFIG_ENV)
    if not template:
        print(f"error: {CONFIG_ENV} is not set (the server sets it on fine-tuning jobs)",
              file=sys.stderr)
        return 2
    config = json.loads(template)
    config.update(training_data=args.training_data, validation_data=args.validation_data,
                  output_dir=args.output_dir)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(config, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
