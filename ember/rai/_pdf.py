"""The score card as a PDF: reportlab's platypus (flowing paragraphs and tables, A4) with
matplotlib's charts as images. A target met is green, a target missed red."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ember.rai._deps import require

GREEN, RED, GREY = "#1e7b34", "#b3261e", "#666666"


def render(card: dict[str, Any], path: Path) -> None:
    platypus = require("reportlab.platypus")
    colors = require("reportlab.lib.colors")
    styles_mod = require("reportlab.lib.styles")
    units = require("reportlab.lib.units")
    pagesizes = require("reportlab.lib.pagesizes")
    styles = styles_mod.getSampleStyleSheet()
    mm = units.mm
    width = pagesizes.A4[0] - 36 * mm
    h1, h2, body = styles["Title"], styles["Heading2"], styles["BodyText"]
    small = styles_mod.ParagraphStyle("small", parent=body, fontSize=8.5, leading=10.5,
                                      textColor=colors.HexColor(GREY))
    cell = styles_mod.ParagraphStyle("cell", parent=body, fontSize=8.5, leading=10.5)
    P = platypus.Paragraph

    def table(header: list[str], rows: list[list[Any]], widths: list[float] | None = None,
              status_column: int | None = None) -> Any:
        data = [[P(f"<b>{_x(h.replace('_', ' '))}</b>", cell) for h in header]]
        style = [("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#bbbbbb")),
                 ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#eeeeee")),
                 ("VALIGN", (0, 0), (-1, -1), "TOP")]
        for r, row in enumerate(rows, start=1):
            data.append([P(_x(_fmt(v)), cell) for v in row])
            if status_column is not None and row[status_column] in ("PASS", "FAIL"):
                shade = "#dff3e3" if row[status_column] == "PASS" else "#f9dedc"
                style.append(("BACKGROUND", (status_column, r), (status_column, r),
                              colors.HexColor(shade)))
        t = platypus.Table(data, colWidths=widths, repeatRows=1, hAlign="LEFT")
        t.setStyle(platypus.TableStyle(style))
        return t

    def status(passed: bool | None) -> str:
        return "" if passed is None else "PASS" if passed else "FAIL"

    model = card["model"]
    story: list[Any] = [P(_x(model["name"]), h1),
                        P(f"Responsible AI score card: {_x(model['type'])} model of "
                          f"<b>{_x(card['target'])}</b>, evaluated on {card['test_rows']} "
                          "test rows.", body)]
    if model["summary"]:
        story.append(P(_x(model["summary"]), body))
    targets = [[m["metric"], m["target"]] for m in card["metrics"] if m["target"]]
    if card.get("fairness") and card["fairness"]["target"]:
        fair = card["fairness"]
        for metric in dict.fromkeys(r["metric"] for r in fair["results"]):
            targets.append([f"{metric} {fair['kind']} between groups", fair["target"]])
    story += [P("Targets", h2),
              table(["measure", "target"], targets, [width * 0.6, width * 0.4])
              if targets else P("No targets were set.", small)]

    if card["data_explorer"]:
        charts = [_image(platypus, _explorer_chart(entry, card), width * 0.8)
                  for entry in card["data_explorer"]]
        story.append(platypus.KeepTogether([
            P("Data analysis", h2),
            P("The test data by feature (bars: rows), with the share the model predicts as "
              "the positive class (or its mean prediction) per value.", small), charts[0]]))
        story += charts[1:]

    story.append(platypus.KeepTogether([
        P("Model performance", h2),
        table(["metric", "value", "target", "status"],
              [[m["metric"], m["value"], m["target"] or "", status(m["passed"])]
               for m in card["metrics"]], [width * 0.35, width * 0.2, width * 0.25,
                                           width * 0.2], status_column=3)]))

    cohort_story: list[Any] = [P("Cohorts", h2)]
    if card.get("cohorts"):
        names = list(card["cohorts"][0]["metrics"])
        rest = width * 0.56 / max(len(names), 1)
        cohort_story.append(table(["cohort", "filter", "rows", *names],
                                  [[c["name"], c["filter"], c["rows"],
                                    *(c["metrics"][n] for n in names)]
                                   for c in card["cohorts"]],
                                  [width * 0.16, width * 0.2, width * 0.08,
                                   *([rest] * len(names))]))
    if card.get("error_cohorts"):
        cohort_story += [platypus.Spacer(1, 6),
                  P(f"Cohorts with the most errors (error analysis, "
                    f"{_x(card['error_metric'])}):", small),
                  table(["cohort", "rows", card["error_metric"]],
                        [[c["cohort"], c["rows"], c["error_rate"]]
                         for c in card["error_cohorts"]],
                        [width * 0.6, width * 0.15, width * 0.25])]
    if len(cohort_story) > 1:
        story.append(platypus.KeepTogether(cohort_story))

    if card.get("feature_importance"):
        story.append(platypus.KeepTogether([
            P(f"Top {len(card['feature_importance'])} important features", h2),
            P("Mean absolute SHAP value over the test rows.", small),
            _image(platypus, _importance_chart(card["feature_importance"]), width * 0.8)]))

    if card.get("fairness"):
        fair = card["fairness"]
        story += [platypus.CondPageBreak(60 * mm), P("Fairness", h2),
                  P(f"Each metric per group of each sensitive feature (fairlearn MetricFrame), "
                    f"and the {fair['kind']} between groups "
                    f"({'largest minus smallest' if fair['kind'] == 'difference' else 'smallest over largest'})"
                    f" against the target {_x(fair['target'] or 'none')}.", small)]
        story.append(table(["sensitive feature", "metric", fair["kind"], "target", "status"],
                           [[r["feature"], r["metric"], r["value"], r["target"] or "",
                             status(r["passed"])] for r in fair["results"]],
                           [width * 0.25, width * 0.25, width * 0.17, width * 0.17,
                            width * 0.16], status_column=4))
        for r in fair["results"]:
            story.append(platypus.Spacer(1, 6))
            story.append(platypus.KeepTogether([
                P(f"<b>{_x(r['metric'])}</b> by <b>{_x(r['feature'])}</b>: {fair['kind']} "
                  f"{_fmt(r['value'])} "
                  f"<font color='{GREEN if r['passed'] else RED if r['passed'] is False else GREY}'>"
                  f"{status(r['passed'])}</font>", body),
                _image(platypus, _group_chart(r), width * 0.62)]))

    if card.get("causal"):
        story += [platypus.CondPageBreak(40 * mm), P("Causal insights", h2),
                  P(f"The average effect on {_x(card['target'])} of one unit more of each "
                    f"treatment feature (econml), interval at alpha {card['causal_alpha']}.",
                    small),
                  table(["treatment", "effect", "p-value", "interval"],
                        [[_treatment(e), e["point"], e["p_value"],
                          f"[{_fmt(e['ci_lower'])}, {_fmt(e['ci_upper'])}]"]
                         for e in card["causal"]],
                        [width * 0.35, width * 0.2, width * 0.2, width * 0.25])]

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(colors.HexColor(GREY))
        canvas.drawString(18 * mm, 10 * mm, f"{model['name']}: Responsible AI score card")
        canvas.drawRightString(pagesizes.A4[0] - 18 * mm, 10 * mm, f"page {doc.page}")
        canvas.restoreState()

    doc = platypus.SimpleDocTemplate(str(path), pagesize=pagesizes.A4, leftMargin=18 * mm,
                                     rightMargin=18 * mm, topMargin=16 * mm,
                                     bottomMargin=18 * mm, title=f"{model['name']} score card",
                                     author="Ember")
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def _treatment(effect: dict[str, Any]) -> str:
    value = effect.get("feature_value")
    return effect["feature"] + (f" ({value})" if value not in (None, "", "num") else "")


def _pyplot() -> Any:
    matplotlib = require("matplotlib")
    matplotlib.use("Agg")
    return require("matplotlib.pyplot")


def _image(platypus: Any, png: bytes, width: float) -> Any:
    reader = require("reportlab.lib.utils").ImageReader(io.BytesIO(png))
    w, h = reader.getSize()
    return platypus.Image(io.BytesIO(png), width=width, height=width * h / w)


def _save(fig: Any) -> bytes:
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=150)
    plt.close(fig)
    return buffer.getvalue()


def _explorer_chart(entry: dict[str, Any], card: dict[str, Any]) -> bytes:
    plt = _pyplot()
    rows = entry["rows"]
    fig, ax = plt.subplots(figsize=(7, 2.6))
    names = [r["value"] for r in rows]
    ax.bar(names, [r["count"] for r in rows], color="#9ab8d8", label="rows")
    ax.set_ylabel("test rows")
    ax.set_title(entry["feature"], fontsize=10)
    ax.tick_params(axis="x", labelsize=7, rotation=20 if entry["kind"] == "numeric" else 0)
    share = [r["positive_share"] for r in rows]
    mean = [r["mean_prediction"] for r in rows]
    line, label, top = ((share, f"share predicted {card['classes'][-1]} (dots)", 1.0)
                        if any(s is not None for s in share)
                        else (mean, "mean prediction (dots)", None)
                        if any(m is not None for m in mean) else (None, "", None))
    if line is not None:
        other = ax.twinx()
        other.plot(names, line, "o-" if entry["kind"] == "numeric" else "o", color="#b3261e")
        if top is not None:
            other.set_ylim(0, top)
        other.set_ylabel(label, fontsize=8)
    return _save(fig)


def _importance_chart(items: list[list[Any]]) -> bytes:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(items) + 0.9))
    names = [str(k) for k, _ in items][::-1]
    ax.barh(names, [float(v) for _, v in items][::-1], color="#3f6fb0")
    ax.set_xlabel("mean |SHAP value|")
    return _save(fig)


def _group_chart(result: dict[str, Any]) -> bytes:
    plt = _pyplot()
    groups = list(result["by_group"])
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(groups) + 1.0))
    values = [result["by_group"][g] or 0.0 for g in groups]
    bars = ax.barh(groups, values, color="#7a5aa6")
    for bar, group in zip(bars, groups):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2,
                f" {_fmt(result['by_group'][group])} (n={result['counts'].get(group, 0)})",
                va="center", fontsize=8)
    ax.set_xlim(0, max([*values, 1e-9]) * 1.35)
    ax.set_xlabel(result["metric"])
    return _save(fig)


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 1e-2 and value != 0 else f"{value:.3f}"
    return str(value)


def _x(value: Any) -> str:
    from xml.sax.saxutils import escape

    return escape(str(value))
