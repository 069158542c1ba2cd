"""Cohorts as the Responsible AI dashboard writes them (``predefined_cohorts_json``):
``[{"name": ..., "cohort_filter_list": [{"method": ..., "arg": [...], "column": ...}]}]``,
the filters of a cohort all applying. ``column`` is a feature, ``Predicted Y``, ``True Y`` or
``Index``; ``method`` one of the dashboard's: greater, greater and equal, less, less and equal,
equal, includes, excludes, in the range of."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ember.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

METHODS = ("greater", "greater and equal", "less", "less and equal", "equal", "includes",
           "excludes", "in the range of")
SPECIAL = ("Predicted Y", "True Y", "Index")


@dataclass(frozen=True)
class Cohort:
    name: str
    filters: list[dict[str, Any]]

    def describe(self) -> str:
        return " and ".join(f"{f['column']} {f['method']} "
                            f"{f['arg'][0] if len(f['arg']) == 1 else f['arg']}"
                            for f in self.filters) or "all data"


def parse_cohorts(value: Any, columns: list[str], what: str) -> list[Cohort]:
    if not isinstance(value, list):
        raise InvalidInputError(f"{what}: expected a JSON list of cohorts")
    out = []
    for i, entry in enumerate(value):
        where = f"{what}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise InvalidInputError(f"{where}: a cohort is {{\"name\": ..., "
                                    "\"cohort_filter_list\": [...]}")
        filters = entry.get("cohort_filter_list") or []
        if not isinstance(filters, list):
            raise InvalidInputError(f"{where}.cohort_filter_list: expected a list")
        for j, f in enumerate(filters):
            spot = f"{where}.cohort_filter_list[{j}]"
            if not isinstance(f, dict) or f.get("method") not in METHODS:
                raise InvalidInputError(f"{spot}: method must be one of {', '.join(METHODS)}")
            if f.get("column") not in columns and f.get("column") not in SPECIAL:
                raise InvalidInputError(f"{spot}: no column {f.get('column')!r} (columns: "
                                        f"{', '.join([*columns, *SPECIAL])})")
            if not isinstance(f.get("arg"), list) or not f["arg"]:
                raise InvalidInputError(f"{spot}: arg must be a non-empty list")
            if f["method"] == "in the range of" and len(f["arg"]) != 2:
                raise InvalidInputError(f"{spot}: 'in the range of' takes [low, high]")
        out.append(Cohort(entry["name"], filters))
    return out


def select(cohort: Cohort, test: pd.DataFrame, truth: Any, predicted: Any) -> Any:
    """A boolean mask of the test rows in ``cohort``."""
    import numpy as np

    mask = np.ones(len(test), dtype=bool)
    for f in cohort.filters:
        column = f["column"]
        values = (np.asarray(predicted) if column == "Predicted Y" else np.asarray(truth)
                  if column == "True Y" else np.arange(len(test)) if column == "Index"
                  else test[column].to_numpy())
        arg, method = f["arg"], f["method"]
        if method == "greater":
            mask &= values > arg[0]
        elif method == "greater and equal":
            mask &= values >= arg[0]
        elif method == "less":
            mask &= values < arg[0]
        elif method == "less and equal":
            mask &= values <= arg[0]
        elif method == "equal":
            mask &= values == arg[0]
        elif method == "includes":
            mask &= np.isin(values, arg)
        elif method == "excludes":
            mask &= ~np.isin(values, arg)
        else:
            mask &= (values >= arg[0]) & (values <= arg[1])
    return mask
