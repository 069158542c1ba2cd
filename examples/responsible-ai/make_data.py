"""Write the example's data: a loan-approval table whose label depends on ``sex`` (an unfair
model learns it), as two MLTable folders, ``data/train`` and ``data/test``. Nothing is downloaded.

    python make_data.py [--rows 600] [--out data]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

COLUMNS = ["age", "income", "years_employed", "credit_score", "sex", "region", "approved"]
MLTABLE = """\
$schema: https://azuremlschemas.azureedge.net/latest/MLTable.schema.json
type: mltable
paths:
  - file: ./{name}
transformations:
  - read_delimited:
      delimiter: ','
      header: all_files_same_headers
"""


def rows(count: int, seed: int) -> list[list[object]]:
    """``count`` applicants; approval follows income and credit score, and ``sex`` (a strong,
    unfair push: about 75 % of men and 25 % of women are approved)."""
    rng = random.Random(seed)
    out: list[list[object]] = []
    for _ in range(count):
        sex = rng.choice(["Male", "Female"])
        age = rng.randint(21, 70)
        income = round(rng.gauss(55, 15), 1)
        years = min(age - 18, rng.randint(0, 30))
        credit = rng.randint(450, 850)
        region = rng.choice(["north", "south", "east", "west"])
        score = (0.04 * (income - 55) + 0.01 * (credit - 650) + 0.03 * (years - 10)
                 + (1.6 if sex == "Male" else -1.6) + rng.gauss(0, 0.8))
        out.append([age, income, years, credit, sex, region, int(score > 0)])
    return out


def write(folder: Path, table: list[list[object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [",".join(COLUMNS)] + [",".join(str(v) for v in row) for row in table]
    (folder / "data.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "MLTable").write_text(MLTABLE.format(name="data.csv"), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=600, help="training rows (test: a quarter)")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("data"))
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    write(args.out / "train", rows(args.rows, args.seed))
    write(args.out / "test", rows(max(args.rows // 4, 20), args.seed + 1))


if __name__ == "__main__":
    main()
