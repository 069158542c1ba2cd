"""Read x,y rows, drop malformed ones, write clean.csv."""
import argparse
import csv
from pathlib import Path

p = argparse.ArgumentParser()
p.add_argument("--raw")
p.add_argument("--out")
a = p.parse_args()
rows = []
with open(a.raw, newline="") as fh:
    for row in csv.DictReader(fh):
        try:
            rows.append((float(row["x"]), float(row["y"])))
        except (KeyError, ValueError):
            continue
out = Path(a.out) / "clean.csv"
out.write_text("x,y\n" + "".join(f"{x},{y}\n" for x, y in rows))
print(f"kept {len(rows)} rows")
