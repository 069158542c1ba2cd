"""What the monitoring pages make of a monitor's runs (``GET .../monitor-runs``): a run's and a
signal's state in words, a signal's worst metric against its threshold, one metric's trend over
the runs and a feature's histograms. Plain functions over the REST API's JSON."""

from __future__ import annotations

import urllib.parse
from typing import Any

ENDED = ("Completed", "Failed", "Canceled")


def run_state(run: dict[str, Any] | None) -> tuple[str, str]:
    """A run's state and its badge class: Breached, OK, Failed to compute, Running, ..."""
    if run is None:
        return "No run yet", "idle"
    if run.get("error"):
        return "Not submitted", "bad"
    status = run.get("status")
    if status is None:
        return "Job deleted", "idle"
    if status not in ENDED:
        return status, "busy"
    if status == "Canceled":
        return "Canceled", "idle"
    result = run.get("signals")
    if not result:
        return "Failed to compute", "bad"
    if result.get("breached"):
        return "Breached", "bad"
    entries = list((result.get("signals") or {}).values())
    failed = [e for e in entries if e.get("error")]
    if not entries or len(failed) == len(entries):
        return "Failed to compute", "bad"
    if failed:
        return f"OK, {len(failed)} not computed", "busy"
    return "OK", "ok"


def signal_state(entry: dict[str, Any]) -> tuple[str, str]:
    if entry.get("error"):
        return "Failed to compute", "bad"
    if entry.get("breached"):
        return ("Breached", "bad") if entry.get("alert_enabled", True) else \
            ("Breached (alert off)", "busy")
    return "OK", "ok"


def worst_metric(entry: dict[str, Any]) -> dict[str, Any] | None:
    """The metric a signal is summed up by: its worst value (in the metric's alert direction)
    over the features, with that feature's threshold; a breached metric first."""
    metrics = entry.get("metrics") or []
    aggregate = entry.get("aggregate") or {}
    best: dict[str, Any] | None = None
    for name, agg in aggregate.items():
        if agg.get("worst") is None:
            continue
        found = next((m for m in metrics if m["metric"] == name
                      and m.get("feature") == agg.get("worst_feature")), None)
        row = {"metric": name, "value": agg["worst"], "feature": agg.get("worst_feature"),
               "threshold": found.get("threshold") if found else None,
               "breached": bool(found and found.get("breached")),
               "breached_features": agg.get("breached_features", 0),
               "features": agg.get("features", 0)}
        rank = (row["breached"], row["threshold"] is not None)
        if best is None or rank > (best["breached"], best["threshold"] is not None):
            best = row
    return best


def signal_names(runs: list[dict[str, Any]], definition: dict[str, Any]) -> list[str]:
    """The monitor's signals: its definition's, else those its runs computed (a deployment's
    out-of-box set)."""
    names = list((definition.get("monitoring_signals") or {}).keys())
    for run in runs:
        for name in ((run.get("signals") or {}).get("signals") or {}):
            if name not in names:
                names.append(name)
    return names


def choices(runs: list[dict[str, Any]], signal: str) -> dict[str, list[str]]:
    """A signal's features over the runs (``""``: signal-wide metrics), each with its
    metrics."""
    out: dict[str, list[str]] = {}
    for run in runs:
        entry = ((run.get("signals") or {}).get("signals") or {}).get(signal) or {}
        for m in entry.get("metrics") or []:
            metrics = out.setdefault(m.get("feature") or "", [])
            if m["metric"] not in metrics:
                metrics.append(m["metric"])
    return out


def default_view(latest: dict[str, Any] | None, names: list[str]) -> tuple[str, str, str]:
    """The (signal, metric, feature) shown when the address names none: the latest run's
    first breached signal (else the first), its worst metric and feature."""
    entries = ((latest or {}).get("signals") or {}).get("signals") or {}
    chosen = next((n for n in names if (entries.get(n) or {}).get("breached")),
                  next((n for n in names if entries.get(n, {}).get("metrics")),
                       names[0] if names else ""))
    worst = worst_metric(entries.get(chosen) or {})
    if worst is None:
        return chosen, "", ""
    return chosen, worst["metric"], worst["feature"] or ""


def trend(runs: list[dict[str, Any]], signal: str, metric: str,
          feature: str) -> dict[str, Any]:
    """One metric of one feature over the runs, oldest first, with the threshold at each."""
    points: dict[str, list[Any]] = {"time": [], "job": [], "value": [], "threshold": [],
                                    "breached": []}
    for run in sorted(runs, key=lambda r: r["trigger_time"]):
        entry = ((run.get("signals") or {}).get("signals") or {}).get(signal) or {}
        for m in entry.get("metrics") or []:
            if m["metric"] == metric and (m.get("feature") or "") == feature:
                points["time"].append(run["trigger_time"] * 1000)
                points["job"].append(run["job_name"])
                points["value"].append(m.get("value"))
                points["threshold"].append(m.get("threshold"))
                points["breached"].append(bool(m.get("breached")))
    return points


def histogram(run: dict[str, Any] | None, signal: str, feature: str) -> dict[str, Any] | None:
    entry = (((run or {}).get("signals") or {}).get("signals") or {}).get(signal) or {}
    return next((h for h in entry.get("histograms") or [] if h.get("feature") == feature),
                None)


def safe_url(url: str) -> str:
    """A webhook's URL without what may hold a secret: the user and password, the query and
    the fragment."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    hidden = [what for what, there in (("user", parts.username or parts.password),
                                       ("query", parts.query or parts.fragment)) if there]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", "")) + \
        (f" ({' and '.join(hidden)} hidden)" if hidden else "")


def target_of(definition: dict[str, Any]) -> dict[str, str]:
    """The monitored thing: ``{"kind", "text", "href"}`` (``href`` below ``/ws/<ws>``)."""
    target = definition.get("monitoring_target") or {}
    deployment = str(target.get("endpoint_deployment_id") or "").removeprefix("azureml:")
    if deployment:
        endpoint = deployment.partition(":")[0]
        return {"kind": "Deployment", "text": deployment,
                "href": f"/endpoints/{urllib.parse.quote(endpoint, safe='')}"}
    model = str(target.get("model_id") or "").removeprefix("azureml:")
    if model:
        name, _, version = model.partition(":")
        href = f"/models/{urllib.parse.quote(name, safe='')}"
        if version and not version.startswith("@"):
            href += f"/{urllib.parse.quote(version, safe='')}"
        return {"kind": "Model", "text": model, "href": href}
    return {"kind": "", "text": "—", "href": ""}


def action_text(action: dict[str, Any]) -> str:
    """An alert action in a line: what job it starts, on which signals' breach."""
    job = action.get("create_job")
    if isinstance(job, dict):
        what = job.get("display_name") or job.get("experiment_name") or \
            (job.get("command") or "a job").splitlines()[0][:80]
    else:
        what = str(job or "a job")
    on = action.get("signals")
    return f"start job {what}" + (f" when {', '.join(on)} breaches" if on else
                                  " on any breach")
