"""The job list (``/ws/<ws>/jobs``): filters, search, sort and paging in the query string (a
shareable URL), read through ``GET /jobs`` one page at a time with the total in a header.

The query string's keys: ``status`` (repeated), ``experiment``, ``type``, ``tag`` (``key`` or
``key=value``), ``submitter``, ``after`` / ``before`` (dates, UTC), ``q`` (search), ``sort`` +
``dir``, ``page`` (from 1), ``size``, ``children`` (1: pipeline steps and sweep trials too) and
``cols`` (the columns shown; the browser also keeps the choice, ``static/jobs.js``).
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.errors import InvalidInputError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import studio_router
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, page_session

router = studio_router()
NAV = [NavItem("Jobs", "/jobs", 10)]

STATUSES = ("Queued", "Preparing", "Starting", "Running", "Finalizing", "CancelRequested",
            "Completed", "Failed", "Canceled")
TYPES = ("command", "pipeline", "sweep", "finetuning")
PAGE_SIZES = (25, 50, 100, 200)
DEFAULT_SIZE = 50


@dataclass(frozen=True)
class Column:
    key: str          # the column's id (the ``cols`` parameter, the chooser)
    label: str
    sort: str | None  # the REST ``order_by`` key; None: not sortable
    default: bool = True


COLUMNS = (
    Column("display_name", "Display name", "display_name"),
    Column("status", "Status", "status"),
    Column("type", "Type", "type"),
    Column("experiment", "Experiment", "experiment_name"),
    Column("submitter", "Submitted by", "submitter"),
    Column("created", "Created", "creation_time"),
    Column("duration", "Duration", "duration"),
    Column("tags", "Tags", None, default=False),
    Column("description", "Description", None, default=False),
    Column("parent", "Parent job", None, default=False),
)
SORT_KEYS = {"name": "name", **{c.key: c.sort for c in COLUMNS if c.sort}}


@dataclass(frozen=True)
class ListState:
    """The page's state, read from (and written back to) the query string."""

    statuses: tuple[str, ...]
    experiment: str
    type: str
    tag: str
    submitter: str
    after: str
    before: str
    q: str
    sort: str
    desc: bool
    page: int
    size: int
    children: bool
    cols: tuple[str, ...] | None

    @classmethod
    def of(cls, request: Request) -> ListState:
        qp = request.query_params
        sort = qp.get("sort", "created")
        sort = sort if sort in SORT_KEYS else "created"
        direction = qp.get("dir", "")
        desc = direction == "desc" if direction in ("asc", "desc") else \
            sort in ("created", "duration")
        cols = qp.get("cols")
        known = {c.key for c in COLUMNS}
        return cls(
            statuses=tuple(s for s in qp.getlist("status") if s in STATUSES),
            experiment=qp.get("experiment", "").strip(), type=qp.get("type", "").strip(),
            tag=qp.get("tag", "").strip(), submitter=qp.get("submitter", "").strip(),
            after=qp.get("after", "").strip(), before=qp.get("before", "").strip(),
            q=qp.get("q", "").strip(), sort=sort, desc=desc,
            page=max(1, _int(qp.get("page"), 1)),
            size=min(max(_int(qp.get("size"), DEFAULT_SIZE), 1), max(PAGE_SIZES)),
            children=qp.get("children") in ("1", "true", "on"),
            cols=None if cols is None else tuple(c for c in cols.split(",") if c in known))

    def rest_params(self) -> list[tuple[str, Any]]:
        """The ``GET /jobs`` query of this page."""
        params: list[tuple[str, Any]] = [
            ("max_results", self.size), ("skip", (self.page - 1) * self.size),
            ("count", "true"), ("history", "false"),
            ("order_by", f"{SORT_KEYS[self.sort]} {'desc' if self.desc else 'asc'}")]
        params += [("status", s) for s in self.statuses]
        for key, value in (("experiment_name", self.experiment), ("type", self.type),
                           ("submitter", self.submitter), ("search", self.q),
                           ("created_after", self.after)):
            if value:
                params.append((key, value))
        if self.before:
            # a date means "up to the end of that day"
            params.append(("created_before", _day_after(self.before)))
        params += [("tag", t.strip()) for t in self.tag.split(",") if t.strip()]
        if not self.children:
            params.append(("top_level_only", "true"))
        return params

    def query(self, **change: Any) -> str:
        """This page's query string with ``change`` applied (None drops a key)."""
        values: dict[str, Any] = {
            "status": list(self.statuses), "experiment": self.experiment, "type": self.type,
            "tag": self.tag, "submitter": self.submitter, "after": self.after,
            "before": self.before, "q": self.q,
            "sort": None if self.sort == "created" else self.sort,
            "dir": "desc" if self.desc else "asc",
            "page": self.page if self.page > 1 else None,
            "size": self.size if self.size != DEFAULT_SIZE else None,
            "children": "1" if self.children else None,
            "cols": ",".join(self.cols) if self.cols is not None else None}
        values.update(change)
        pairs: list[tuple[str, Any]] = []
        for key, value in values.items():
            if isinstance(value, list):
                pairs += [(key, v) for v in value]
            elif value not in (None, ""):
                pairs.append((key, value))
        return urllib.parse.urlencode(pairs)

    def sort_link(self, key: str) -> str:
        """The header link of column ``key``: sort by it, or flip the direction if it is the
        sort already; back to the first page."""
        desc = (not self.desc) if key == self.sort else key in ("created", "duration")
        return self.query(sort=key, dir="desc" if desc else "asc", page=None)

    @property
    def filtered(self) -> bool:
        return any((self.statuses, self.experiment, self.type, self.tag, self.submitter,
                    self.after, self.before, self.q))


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def _day_after(text: str) -> str:
    """``2026-12-04`` → ``2026-12-05`` (a date's end); anything else as given."""
    import datetime as dt
    try:
        return (dt.date.fromisoformat(text) + dt.timedelta(days=1)).isoformat()
    except ValueError:
        return text


def duration(job: dict[str, Any], now: float) -> float | None:
    start = job.get("start_time")
    if not start:
        return None
    return max(0.0, (job.get("end_time") or now) - start)


@router.get("/ws/{workspace}/jobs")
async def job_list(request: Request, workspace: str, session: Session = Depends(page_session),
                   api: StudioApi = Depends(studio_api)) -> Response:
    state = ListState.of(request)
    problem = ""
    try:
        jobs, headers = await api.get_with_headers(api.ws("/jobs"), params=state.rest_params())
        total = int(headers.get("x-ember-total-count", len(jobs)))
    except InvalidInputError as exc:
        # a filter the API refuses (a malformed date or tag): the form stays, to correct it
        jobs, total, problem = [], 0, exc.message
    experiments = await api.get(f"/workspaces/{quote(workspace)}/api/2.0/mlflow/experiments/search",
                                max_results=1000)
    names = sorted({e["name"] for e in experiments.get("experiments", [])} | (
        {state.experiment} if state.experiment else set()))
    pages = max(1, -(-total // state.size))
    first = (state.page - 1) * state.size
    now = time.time()
    rows = [{**job, "duration": duration(job, now)} for job in jobs]
    return render(request, session, "jobs/list.html", title="Jobs", jobs=rows, state=state,
                  total=total, pages=pages, first=first, columns=COLUMNS, statuses=STATUSES,
                  types=TYPES, problem=problem, experiments=names,
                  page_sizes=sorted({*PAGE_SIZES, state.size}),
                  shown=set(state.cols) if state.cols is not None else
                  {c.key for c in COLUMNS if c.default})
