"""What `workbench evaluate` prints around the checkpoints' metrics: query/gallery leakage
(near-copies left out of the headline) and the trivial baselines scored the same way."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import click
import numpy as np
import pandas as pd

from workbench.commands.options import progress_bar


def find_query_leaks(ds, cache: Path | None) -> pd.DataFrame:
    """Query/gallery near-copies (:func:`explain.retrieval.leakage.find_leaks`) behind a progress
    bar."""
    from explain.retrieval.leakage import find_leaks

    bar, progress = progress_bar("near-copies")
    try:
        return find_leaks(ds, cache_dir=cache, progress=progress)
    finally:
        bar.close()


def _row(label: str, summary: dict, extra: dict | None = None) -> dict:
    return {
        "label": label,
        **{c: summary.get(c, np.nan) for c in ("rank1", "rank5", "rank10", "rank20")},
        "mAP": summary["mAP"],
        "mINP": summary["mINP"],
        "num_query": summary["num_query"],
        "num_valid": summary["num_valid"],
        "rank1_file": np.nan,
        **(extra or {}),
    }


def baseline_rows(ds, cache: Path | None, k: int, leaks: pd.DataFrame | None) -> dict:
    """``{"headline": DataFrame, "with_leaks": DataFrame | None}`` of the baselines' metrics
    rows (the columns :func:`workbench.commands.evaluate.format_table` prints)."""
    from explain.retrieval.baselines import evaluate_baselines
    from explain.retrieval.leakage import top1_by_copy

    head = evaluate_baselines(ds, cache_dir=cache, k=k, exclude=leaks)
    out = {"headline": pd.DataFrame([_row(n, e.summary) for n, e in head]), "with_leaks": None}
    if leaks is not None:
        rows = []
        for name, ev in evaluate_baselines(ds, cache_dir=cache, k=k):
            rows.append(
                _row(name, ev.summary, {"top1_by_copy": len(top1_by_copy(ev.per_query, leaks))})
            )
        out["with_leaks"] = pd.DataFrame(rows)
    return out


def print_report(result, leaks, base, format_table: Callable[[pd.DataFrame], str]) -> None:
    """The headline table (leakage excluded when checked), the baselines, then the numbers with
    the leaks and which queries they concern."""
    if leaks is None:
        click.echo(
            "query/gallery near-copies not checked (--no-leaks): the numbers may be inflated"
        )
    elif leaks.empty:
        click.echo("no query/gallery near-copies found (workbench duplicates' defaults)")
    else:
        queries = sorted(set(leaks["query"]))
        click.echo(
            f"HEADLINE: {len(leaks)} query/gallery near-copy pair(s) ({len(queries)} queries) are "
            "left out of each query's ranking: a query found by its own copy proves nothing. "
            "The numbers with them counted follow below."
        )
    click.echo(format_table(result.metrics))
    if base is not None:
        click.echo("trivial baselines, same queries, gallery and metrics code:")
        click.echo(_body(format_table(base["headline"])))
        _verdict(result.metrics, base["headline"])
    if leaks is None or leaks.empty:
        return
    click.echo("\nwith the near-copies counted (torchreid's protocol alone; inflated):")
    table = result.metrics_with_leaks.assign(rank1_file=np.nan)
    if base is not None and base["with_leaks"] is not None:
        table = pd.concat([table, base["with_leaks"]], ignore_index=True)
    click.echo(_with_copies(format_table(table), table))
    click.echo("near-copies left out (query -> gallery copy, evidence):")
    for r in leaks.itertuples(index=False):
        click.echo(f"  {r.query} -> {r.gallery}  ({r.kind}, hash {r.hash_distance}, "
                   f"{r.inliers} keypoints)")  # fmt: skip


def _body(text: str) -> str:
    return "\n".join(text.splitlines()[1:])


def _with_copies(text: str, table: pd.DataFrame) -> str:
    lines = text.splitlines()
    out = [lines[0].replace("rank1 file", "") + "top-1 = own copy"]
    for line, n in zip(lines[1:], table["top1_by_copy"].tolist(), strict=True):
        out.append(line[: len(lines[0]) - 12] + f"{int(n):>16}")
    return "\n".join(out)


def _verdict(metrics: pd.DataFrame, base: pd.DataFrame) -> None:
    if metrics.empty or base.empty:
        return
    best = base.loc[base["mAP"].idxmax()]
    last = metrics.iloc[-1]
    word = "above" if last["mAP"] > best["mAP"] else "NOT above"
    click.echo(
        f"better than a trivial matcher? the last checkpoint ({last['label']}) has mAP "
        f"{last['mAP']:.3f}, {word} the best trivial baseline "
        f"({best['label']}, {best['mAP']:.3f}); rank-1 {last['rank1']:.3f} vs {best['rank1']:.3f}"
    )
