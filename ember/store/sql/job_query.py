"""``GET /jobs``'s filters, order and page as SQL (SQLite and PostgreSQL alike).

Paging is by offset, with the total counted on request: at 10,000 jobs in a workspace a deep
page costs a few milliseconds more than the first (``benchmarks/bench_studio_jobs.py``), and a
page can be reached directly (a shared link, the last page), which a keyset token cannot.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, or_, select

from ember.entities.jobs import JobQuery
from ember.errors import InvalidInputError
from ember.store.sql import tables as t

# Characters a tag key cannot hold in a JSON path (SQLite's "$."key"", PostgreSQL's
# '{tags,key}'); MLflow's run tag keys, which every job tag also is, never hold them.
_BAD_TAG_KEY = set('"{},\\')


def _conditions(workspace: str, q: JobQuery) -> list[ColumnElement[bool]]:
    c = t.jobs.c
    where: list[ColumnElement[bool]] = [c.workspace == workspace]
    if q.parent_job_name is not None:
        where.append(c.parent_job_name == q.parent_job_name)
    elif q.top_level_only:
        where.append(c.parent_job_name.is_(None))
    if q.archived is not None:
        where.append(c.is_archived == q.archived)
    if q.statuses:
        where.append(c.status.in_(q.statuses))
    if q.experiment_names:
        where.append(c.experiment_name.in_(q.experiment_names))
    if q.types:
        where.append(c.type.in_(q.types))
    if q.submitters:
        where.append(c.submitter.in_(q.submitters))
    if q.created_after is not None:
        where.append(c.creation_time >= q.created_after)
    if q.created_before is not None:
        where.append(c.creation_time < q.created_before)
    for key, value in q.tags:
        if not key or _BAD_TAG_KEY & set(key):
            raise InvalidInputError(f"tag filter {key!r}: a tag key cannot be empty or hold "
                                    'any of " { } , \\')
        tag = c.spec[("tags", key)].as_string()
        where.append(tag.is_not(None) if value is None else tag == value)
    if q.search:
        text = q.search.strip()
        where.append(or_(c.name.icontains(text, autoescape=True),
                         c.display_name.icontains(text, autoescape=True),
                         c.experiment_name.icontains(text, autoescape=True),
                         c.spec[("description",)].as_string().icontains(text, autoescape=True)))
    return where


def _order(q: JobQuery, now: float) -> list[Any]:
    c = t.jobs.c
    columns: dict[str, Any] = {
        "creation_time": c.creation_time, "name": c.name, "display_name": c.display_name,
        "status": c.status, "type": c.type, "experiment_name": c.experiment_name,
        "submitter": c.submitter,
        "duration": func.coalesce(c.end_time, literal(now)) - c.start_time,
    }
    if q.order_by not in columns:
        raise InvalidInputError(f"order_by {q.order_by!r} is not one of: "
                                + ", ".join(columns))
    key = columns[q.order_by]
    first = (key.desc() if q.descending else key.asc()).nulls_last()
    if q.order_by == "name":
        return [first]
    return [first, c.name.desc() if q.descending else c.name.asc()]


def page_query(workspace: str, q: JobQuery, now: float) -> Select[Any]:
    if q.skip < 0 or q.max_results < 0:
        raise InvalidInputError("skip and max_results must be ≥ 0")
    return (select(t.jobs).where(and_(*_conditions(workspace, q)))
            .order_by(*_order(q, now)).offset(q.skip).limit(q.max_results))


def count_query(workspace: str, q: JobQuery) -> Select[Any]:
    return select(func.count()).select_from(t.jobs).where(and_(*_conditions(workspace, q)))
