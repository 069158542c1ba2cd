"""Template filters: times, durations, sizes, statuses as people read them."""

from __future__ import annotations

import datetime as dt
from typing import Any


def when(value: Any) -> str:
    """An epoch (seconds or milliseconds) or ISO time as ``2026-12-04 19:28:47 UTC``."""
    if value in (None, ""):
        return ""
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        moment = dt.datetime.fromtimestamp(seconds, dt.timezone.utc)
    else:
        try:
            moment = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            return str(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(seconds: Any) -> str:
    if seconds in (None, ""):
        return ""
    s = float(seconds)
    if s < 60:
        return f"{s:.1f} s"
    minutes, s = divmod(int(s), 60)
    if minutes < 60:
        return f"{minutes} min {s} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def size(n: Any) -> str:
    if n in (None, ""):
        return ""
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TB"


def status_class(status: Any) -> str:
    """The CSS class of a status badge."""
    s = str(status or "").lower()
    if s in ("completed", "succeeded", "ready", "enabled", "finished"):
        return "ok"
    if s in ("failed", "canceled", "cancelled", "notresponding", "killed", "error"):
        return "bad"
    if s in ("running", "starting", "preparing", "queued", "finalizing", "provisioning",
             "updating", "creating", "cancelrequested", "scheduled"):
        return "busy"
    return "idle"


FILTERS = {"when": when, "duration": duration, "size": size, "status_class": status_class}
