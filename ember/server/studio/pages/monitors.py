"""The monitoring pages (Azure ML studio's Monitoring): the list of monitor schedules
(``/ws/<ws>/monitors``: target, signals, last run's state, next run) and a monitor
(``/ws/<ws>/monitors/<name>``: its target, trigger and alert notification, the latest run's
signals, a metric's trend over the runs, a feature's histograms in one run, and the runs with
their alerts). What is charted is chosen in the address (``?signal=&metric=&feature=&run=``),
so a view can be shared; ``static/monitors.js`` draws it. Enable, Disable and Trigger now are
the schedule page's buttons (``static/schedules.js``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Depends, Request
from fastapi.responses import Response

from ember.entities.auth import WRITE
from ember.errors import InvalidInputError
from ember.server.studio.api import StudioApi, quote, studio_api
from ember.server.studio.pages import _monitor_views as V
from ember.server.studio.pages import studio_router
from ember.server.studio.pages.schedules import trigger_summary
from ember.server.studio.render import NavItem, render
from ember.server.studio.session import Session, may, page_session

router = studio_router()
NAV = [NavItem("Monitoring", "/monitors", 65)]
# the runs a monitor's page reads: its trend and its runs table
RUNS = 30


@router.get("/ws/{workspace}/monitors")
async def monitor_list(request: Request, workspace: str,
                       session: Session = Depends(page_session),
                       api: StudioApi = Depends(studio_api)) -> Response:
    schedules = [s for s in await api.get(api.ws("/schedules"), list_view_type="all")
                 if s.get("create_monitor")]
    schedules.sort(key=lambda s: s["name"])
    lasts = await asyncio.gather(*(api.get(api.ws(f"/schedules/{quote(s['name'])}"
                                                  "/monitor-runs"), top=1)
                                   for s in schedules))
    rows = []
    for s, last in zip(schedules, lasts):
        run = last[0] if last else None
        definition = s["create_monitor"]
        names = V.signal_names(last, definition)
        rows.append({"schedule": s, "target": V.target_of(definition), "signals": names,
                     "default_signals": not definition.get("monitoring_signals"),
                     "run": run, "state": V.run_state(run)})
    return render(request, session, "monitors/list.html", title="Monitoring", rows=rows)


@router.get("/ws/{workspace}/monitors/{name}")
async def monitor_page(request: Request, workspace: str, name: str,
                       signal: str = "", metric: str = "", feature: str | None = None,
                       run: str = "",
                       session: Session = Depends(page_session),
                       api: StudioApi = Depends(studio_api)) -> Response:
    base = api.ws(f"/schedules/{quote(name)}")
    schedule = await api.get(base)
    definition = schedule.get("create_monitor")
    if not definition:
        raise InvalidInputError(f"schedule {name!r} is not a monitor (it has no "
                                "create_monitor)")
    runs = await api.get(f"{base}/monitor-runs", top=RUNS)
    with_results = [r for r in runs if r.get("signals")]
    latest = with_results[0] if with_results else None
    names = V.signal_names(runs, definition)
    view = _view(with_results, latest, names, signal, metric, feature)
    shown = next((r for r in with_results if r["job_name"] == run), latest)
    histogram = V.histogram(shown, view["signal"], view["feature"])
    histogram_features = [h["feature"] for h in (((shown or {}).get("signals") or {})
                                                 .get("signals", {}).get(view["signal"], {})
                                                 .get("histograms") or [])]
    signals = []
    for signal_name, entry in ((latest or {}).get("signals") or {}).get("signals", {}).items():
        signals.append({"name": signal_name, "entry": entry,
                        "state": V.signal_state(entry), "worst": V.worst_metric(entry)})
    alert = definition.get("alert_notification") or {}
    chart = {"trend": V.trend(with_results, view["signal"], view["metric"], view["feature"]),
             "signal": view["signal"], "metric": view["metric"], "feature": view["feature"],
             "histogram": histogram, "run": shown["job_name"] if shown else None,
             "run_time": shown["trigger_time"] * 1000 if shown else None}
    return render(
        request, session, "monitors/detail.html", title=f"Monitor {name}",
        schedule=schedule, definition=definition, target=V.target_of(definition),
        summary=trigger_summary(schedule["trigger"]),
        emails=alert.get("emails") or [],
        webhooks=[V.safe_url(u) for u in alert.get("webhooks") or []],
        actions=[V.action_text(a) for a in alert.get("actions") or []],
        names=names, latest=latest, signals=signals, view=view, chart=chart,
        shown=shown, histogram_features=histogram_features,
        runs=[dict(r, state=V.run_state(r), histograms=_has_histograms(r)) for r in runs],
        result_runs=with_results,
        chartable=any(V.choices(with_results, n) for n in names),
        can_write=may(request, session, workspace, WRITE))


def _view(runs: list[dict[str, Any]], latest: dict[str, Any] | None, names: list[str],
          signal: str, metric: str, feature: str | None) -> dict[str, Any]:
    """The (signal, feature, metric) the address asks for, each replaced by a default when
    the runs have no such thing: a signal changed in the form leaves its feature and metric
    stale, a feature changed its metric (a categorical feature has no numerical metric)."""
    default_signal, default_metric, default_feature = V.default_view(latest, names)
    if signal not in names:
        signal = default_signal
    by_feature = V.choices(runs, signal)
    features = list(by_feature)
    if feature is None or feature not in by_feature:
        worst = V.worst_metric(_entry(latest, signal)) or {}
        feature = (default_feature if signal == default_signal
                   else str(worst.get("feature") or ""))
        if feature not in by_feature:
            feature = features[0] if features else ""
    metrics = by_feature.get(feature, [])
    if metric not in metrics:
        thresholded = [m for m in metrics if _has_threshold(latest, signal, m, feature)]
        metric = (default_metric if default_metric in metrics
                  else (thresholded or metrics or [""])[0])
    return {"signal": signal, "metric": metric, "feature": feature, "metrics": metrics,
            "features": features}


def _entry(run: dict[str, Any] | None, signal: str) -> dict[str, Any]:
    return (((run or {}).get("signals") or {}).get("signals") or {}).get(signal) or {}


def _has_threshold(run: dict[str, Any] | None, signal: str, metric: str, feature: str) -> bool:
    return any(m["metric"] == metric and (m.get("feature") or "") == feature
               and m.get("threshold") is not None
               for m in _entry(run, signal).get("metrics") or [])


def _has_histograms(run: dict[str, Any]) -> bool:
    return any(e.get("histograms")
               for e in ((run.get("signals") or {}).get("signals") or {}).values())
