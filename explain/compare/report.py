"""The comparison as files: ``report.html`` with plotly charts, CSV tables, the grid PNGs.

What a report folder holds::

    report.html            charts, tables and grids; open it in a browser, offline
    plotly.min.js          plotly's JavaScript, shared by the charts (no CDN: works offline)
    metrics.csv ...        every table of the :class:`explain.compare.comparison.Comparison`
    grid_<method>.png      heatmap grids (rows = queries, columns = epochs × series)
    comparison.json        what was compared (series, dataset, epochs, recipe differences)

The folder is written to a temporary folder beside ``out_dir``, recorded in ``written.json``
(every file with its size and SHA-256), flushed and swapped in atomically
(:func:`curation.replace.replace_folder`). An earlier report there is replaced only when it holds
exactly what its record lists; a file added to it or changed, or any other non-empty folder,
and the report is refused with the entries listed.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from curation.replace import check_replaceable, replace_folder

if TYPE_CHECKING:
    import plotly.graph_objects as go

    from explain.compare.comparison import Comparison

TABLES = ("metrics", "metric_deltas", "artifact_mass", "artifact_deltas", "counterfactual",
          "counterfactual_deltas")  # fmt: skip
MARKER = "comparison.json"
TOOL = "workbench compare"
COLOURS = {"baseline": "#1f77b4", "curated": "#d62728"}


class ReportError(ValueError):
    """The report cannot be written where asked; the message says what to do."""


def figures(comparison: Comparison) -> dict[str, go.Figure]:
    """Plotly figures: ``metrics`` (per epoch, all vs clean queries), ``artifact_mass`` (per
    artifact type and group, last matched epoch), ``artifact_epochs`` (any artifact, per epoch),
    ``counterfactual`` (similarity drops per epoch). Empty tables give no figure."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    out: dict[str, go.Figure] = {}
    m = comparison.metrics
    if not m.empty:
        names = ["mAP", "rank1", "rank5", "mINP"]
        fig = make_subplots(rows=1, cols=len(names), subplot_titles=names)
        for j, metric in enumerate(names, 1):
            for (series, subset), grp in m.groupby(["series", "subset"], sort=True):
                grp = grp.sort_values("epoch")
                fig.add_trace(
                    go.Scatter(x=grp["epoch"], y=grp[metric], mode="lines+markers",
                               name=f"{series} ({subset} queries)", legendgroup=f"{series}{subset}",
                               showlegend=j == 1, line={"color": COLOURS.get(series),
                               "dash": "solid" if subset == "all" else "dot"}),
                    row=1, col=j,
                )  # fmt: skip
        fig.update_xaxes(title_text="epoch")
        fig.update_layout(title="Retrieval per epoch", height=380)
        out["metrics"] = fig
    a = comparison.artifact_mass
    if not a.empty:
        last = int(min(a.groupby("series")["epoch"].max()))
        at = a[(a["epoch"] == last) & (a["artifact"] != "any")]
        groups = sorted(at["group"].unique())
        fig = make_subplots(rows=1, cols=max(1, len(groups)),
                            subplot_titles=[f"{g} posts" for g in groups])  # fmt: skip
        for j, group in enumerate(groups, 1):
            for series in ("baseline", "curated"):
                grp = at[(at["group"] == group) & (at["series"] == series)]
                for method, part in grp.groupby("method", sort=True):
                    fig.add_trace(
                        go.Bar(x=part["artifact"], y=part["mass_mean"], name=f"{series} {method}",
                               legendgroup=f"{series}{method}", showlegend=j == 1,
                               marker_color=COLOURS.get(series)),
                        row=1, col=j,
                    )  # fmt: skip
        fig.update_yaxes(title_text="artifact mass", range=[0, 1])
        fig.update_layout(title=f"Heatmap mass on the artifact, epoch {last}", barmode="group",
                          height=380)  # fmt: skip
        out["artifact_mass"] = fig
        anyart = a[a["artifact"] == "any"]
        fig = go.Figure()
        for (series, method, group), grp in anyart.groupby(["series", "method", "group"]):
            grp = grp.sort_values("epoch")
            fig.add_trace(go.Scatter(
                x=grp["epoch"], y=grp["mass_mean"], mode="lines+markers",
                name=f"{series} {method} {group}",
                line={"color": COLOURS.get(series),
                      "dash": "solid" if group == "polluted" else "dot"},
            ))  # fmt: skip
        fig.update_layout(title="Artifact mass per epoch (any artifact)", height=380,
                          xaxis_title="epoch", yaxis_title="artifact mass")  # fmt: skip
        out["artifact_epochs"] = fig
    c = comparison.counterfactual
    if not c.empty:
        fig = make_subplots(rows=1, cols=2, subplot_titles=["drop_pair", "drop_self"])
        for j, col in enumerate(["drop_pair_mean", "drop_self_mean"], 1):
            for (series, group), grp in c.groupby(["series", "group"], sort=True):
                if group == "all":
                    continue
                grp = grp.sort_values("epoch")
                fig.add_trace(
                    go.Scatter(x=grp["epoch"], y=grp[col], mode="lines+markers",
                               name=f"{series} {group}", legendgroup=f"{series}{group}",
                               showlegend=j == 1, line={"color": COLOURS.get(series),
                               "dash": "solid" if group == "polluted" else "dot"}),
                    row=1, col=j,
                )  # fmt: skip
        fig.update_xaxes(title_text="epoch")
        fig.update_layout(title="Similarity drop when the artifact is removed", height=380)
        out["counterfactual"] = fig
    return out


def _table_html(df: pd.DataFrame) -> str:
    if df.empty:
        return "<p><em>(no rows)</em></p>"
    return df.to_html(index=False, float_format=lambda v: f"{v:.3f}", border=0, classes="t")


EFFECT_COLOURS = {"better": "#d4edda", "worse": "#f8d7da", "no detectable effect": "#eeeeee"}


def _intervals_html(comparison: Comparison) -> list[str]:
    """The headline and the bootstrap-interval table, rows coloured by effect."""
    from explain.compare.intervals import headline, series_intervals

    if comparison.per_query is None or comparison.per_query.empty:
        return []
    table = series_intervals(comparison.per_query)
    rows = []
    for rec in table.to_dict("records"):
        colour = EFFECT_COLOURS.get(rec["effect"], "")
        cells = "".join(
            f"<td>{v:.3f}</td>" if isinstance(v, float) else f"<td>{html.escape(str(v))}</td>"
            for v in rec.values()
        )
        rows.append(f"<tr style='background:{colour}'>{cells}</tr>")
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    return [
        f"<h2 class='headline'>{html.escape(headline(table))}</h2>",
        "<p>Curated minus baseline, 95% paired bootstrap interval over queries (fixed seed); one "
        "model per series, so training noise is not in it (repeat over seeds with "
        "<code>workbench experiment</code>).</p>",
        f"<table class='t intervals'><tr>{head}</tr>{''.join(rows)}</table>",
    ]


def _html(comparison: Comparison, figs: dict, grids: dict[str, str]) -> str:
    meta = comparison.meta
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Series comparison</title>",
        "<script src='plotly.min.js'></script>",
        "<style>body{font-family:sans-serif;margin:1.5em}table.t{border-collapse:collapse;"
        "font-size:13px}table.t td,table.t th{padding:2px 8px;text-align:right}"
        "table.t tr:nth-child(even){background:#f3f3f3}</style></head><body>",
        "<h1>Baseline vs curated</h1>",
        f"<p>baseline <code>{html.escape(str(meta.get('baseline')))}</code>, curated "
        f"<code>{html.escape(str(meta.get('curated')))}</code>, dataset "
        f"<code>{html.escape(str(meta.get('dataset')))}</code>; epochs matched by number: "
        f"{meta.get('matched_epochs')}; clean queries: {meta.get('clean_queries')}; "
        f"train images {meta.get('train_images')}.</p>",
    ]
    diff = meta.get("recipe_differences") or {}
    parts.append(
        "<p>Recipes: the same.</p>" if not diff else
        "<p>Recipes differ: " + html.escape(json.dumps(diff)) + "</p>"
    )  # fmt: skip
    parts += _intervals_html(comparison)
    for name, fig in figs.items():
        parts.append(fig.to_html(full_html=False, include_plotlyjs=False, div_id=f"fig-{name}"))
    for title, table in (
        ("Metric deltas (curated - baseline)", "metric_deltas"),
        ("Artifact mass deltas", "artifact_deltas"),
        ("Counterfactual similarity drop deltas", "counterfactual_deltas"),
    ):
        parts += [f"<h2>{title}</h2>", _table_html(getattr(comparison, table))]
    for method, name in grids.items():
        parts += [f"<h2>Heatmaps: {html.escape(method)}</h2>",
                  f"<p>Rows: queries; columns: {html.escape(', '.join(comparison.columns))}.</p>",
                  f"<img src='{name}' style='max-width:100%'>"]  # fmt: skip
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def write_report(comparison: Comparison, out_dir: str | Path) -> Path:
    """Write the report folder atomically; returns ``out_dir / "report.html"``."""
    from plotly.offline import get_plotlyjs

    out_dir = Path(out_dir).expanduser()
    grids = {m: f"grid_{m.replace('+', 'p')}.png" for m in comparison.grids}
    names = [f"{t}.csv" for t in TABLES] + list(grids.values())
    names += ["plotly.min.js", "report.html", MARKER]
    plan = {name: {"kind": "file"} for name in names}
    with replace_folder(out_dir, TOOL, what="earlier report", plan=plan, error=ReportError) as st:
        for name in TABLES:
            st.write_bytes(f"{name}.csv", getattr(comparison, name).to_csv(index=False).encode())
        for method, path in comparison.grids.items():
            st.copy(grids[method], Path(path))
        st.write_bytes("plotly.min.js", get_plotlyjs().encode())
        st.write_bytes("report.html", _html(comparison, figures(comparison), grids).encode())
        meta = {**comparison.meta, "queries": comparison.queries, "columns": comparison.columns,
                "grids": grids}  # fmt: skip
        blob = json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n"
        st.write_bytes(MARKER, blob.encode())
    return out_dir / "report.html"


def check_out(out_dir: str | Path) -> None:
    """Refuse early (before the comparison runs) a folder :func:`write_report` would refuse."""
    check_replaceable(Path(os.path.abspath(Path(out_dir).expanduser())), TOOL,
                      "earlier report", ReportError)  # fmt: skip
