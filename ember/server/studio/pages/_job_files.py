"""What the job page shows of a job's data: its inputs and outputs with lineage links, and a
file of an output as text, an image, a CSV table or pretty JSON (only its first bytes: a
huge file shows its head and says so)."""

from __future__ import annotations

import csv
import io
import json
import re
from typing import Any
from urllib.parse import quote, urlencode

from ember.server.studio.api import API
from ember.server.studio.pages._job_svg import job_href

VIEW_BYTES = 256 << 10
CSV_ROWS = 50
IMAGES = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp")
_ASSET = re.compile(r"^azureml:(?P<name>[^:@/]+)(?::(?P<version>[^:@/]+)|@(?P<label>\w+))?$")
_MODEL_TYPES = ("mlflow_model", "custom_model", "triton_model")


def asset_href(workspace: str, kind: str, path: str) -> tuple[str, str] | None:
    """The studio page of a registered asset named by ``azureml:<name>:<version>`` (or
    ``@latest``), and its label; None for any other path."""
    m = _ASSET.match(path or "")
    if not m:
        return None
    version = m["version"] or m["label"] or "latest"
    area = "models" if kind in _MODEL_TYPES else "data"
    href = f"/ws/{quote(workspace, safe='')}/{area}/{quote(m['name'], safe='')}/" \
           f"{quote(version, safe='')}"
    return href, f"{m['name']}:{version}"


def input_rows(workspace: str, job: dict[str, Any], lineage: dict[str, Any]
               ) -> list[dict[str, Any]]:
    rows = []
    found = lineage.get("inputs") or {}
    for name, inp in (job.get("inputs") or {}).items():
        literal = inp.get("path") is None
        row: dict[str, Any] = {"name": name, "type": inp.get("type", ""),
                               "value": inp.get("value") if literal else inp.get("path"),
                               "links": []}
        producer = (found.get(name) or {}).get("produced_by")
        if producer and producer != job["name"]:
            row["links"].append({"href": job_href(workspace, producer),
                                 "label": f"produced by {producer}"})
        asset = None if literal else asset_href(workspace, row["type"], str(row["value"]))
        if asset:
            row["links"].append({"href": asset[0], "label": asset[1]})
        rows.append(row)
    return rows


def output_rows(workspace: str, job: dict[str, Any], lineage: dict[str, Any]
                ) -> list[dict[str, Any]]:
    rows = []
    found = lineage.get("outputs") or {}
    for name, out in (job.get("outputs") or {}).items():
        producer = (found.get(name) or {}).get("produced_by")
        links = [{"href": file_href(workspace, job["name"], name, ""), "label": "files"}]
        if producer and producer != job["name"]:
            links.append({"href": job_href(workspace, producer),
                          "label": f"written by {producer}"})
        rows.append({"name": name, "type": out.get("type", ""), "path": out.get("path") or "",
                     "links": links})
    return rows


def file_href(workspace: str, job: str, output: str, path: str) -> str:
    query = {"output": output, **({"path": path} if path else {})}
    return f"{job_href(workspace, job, 'outputs')}?{urlencode(query)}"


def download_href(workspace: str, job: str, output: str, path: str) -> str:
    return (f"{API}/workspaces/{quote(workspace, safe='')}/jobs/{quote(job, safe='')}/files/"
            f"{quote(path)}?{urlencode({'output': output})}")


def view(path: str, head: bytes, size: int | None) -> dict[str, Any]:
    """How to show a file from its first bytes: ``kind`` (image, csv, json, text, binary),
    what to show, and whether it is cut (``truncated``)."""
    truncated = size is not None and size > len(head)
    lower = path.lower()
    out: dict[str, Any] = {"kind": "text", "size": size, "truncated": truncated,
                           "shown": len(head), "text": "", "header": [], "rows": []}
    if lower.endswith(IMAGES):
        out.update(kind="image", truncated=False)
        return out
    if b"\0" in head[:8192]:
        out.update(kind="binary", truncated=False)
        return out
    text = head.decode("utf-8", "replace")
    if lower.endswith((".csv", ".tsv")):
        lines = text.splitlines()
        if truncated and lines:
            lines = lines[:-1]     # a cut last line would be a wrong row
        table = list(csv.reader(io.StringIO("\n".join(lines[:CSV_ROWS + 1])),
                                delimiter="\t" if lower.endswith(".tsv") else ","))
        if table:
            out.update(kind="csv", header=table[0], rows=table[1:],
                       more=len(lines) - 1 > CSV_ROWS or truncated)
            return out
    if lower.endswith(".json") and not truncated:
        try:
            out.update(kind="json", text=json.dumps(json.loads(text), indent=2))
            return out
        except ValueError:
            pass
    out["text"] = text
    return out
