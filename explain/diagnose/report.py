"""The diagnosis as files: ``diagnosis.json``, ``diagnosis.md``, ``plots/*.json`` (plotly
figures) and ``plots.html`` (every figure, plotly.js inlined: opens offline).

:func:`build` turns measurements (:mod:`.run`) plus the optional experiment results and shortcut
posts into one JSON-ready dict with the ranked recommendation; :func:`figures` draws it;
:func:`write` writes the folder (each file written to a temporary name and renamed).
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from explain.diagnose import curve, pollution, pose, recommend, segmentation
from explain.diagnose.stats import Estimate, bootstrap_mean

EXPERIMENT_HOW = "`workbench experiment --fractions 0.25,0.5,0.75,1.0` and pass --experiment EXPDIR"
DECIDED_BY = "the silhouette: its top 30 % of rows lie towards the head"
SHORTCUTS_HOW = "the shortcut finder (posts.csv) and pass --shortcuts posts.csv"


def _est(d) -> dict:
    return d.to_dict() if isinstance(d, Estimate) else d


def _clean(obj):
    """JSON-ready: Estimates as dicts, NaN as None, numpy scalars as Python numbers."""
    if isinstance(obj, Estimate):
        return obj.to_dict()
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return None if math.isnan(float(obj)) else float(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def build(m, results: pd.DataFrame | None = None, posts: pd.DataFrame | None = None,
          dataset_name: str = "", step: float = 0.25) -> dict:  # fmt: skip
    """The diagnosis dict (see the module docstring) from :class:`.run.Measurements` ``m``."""
    ph = m.photos
    shares = segmentation.summarise_shares(ph)
    seg = {"shares": shares, "intruder_source": m.info["intruder_source"],
           "silhouette_area": bootstrap_mean(ph["silhouette_area"].to_numpy()),
           "photos_with_intruders": int((ph["detected"] != "").sum())}  # fmt: skip
    if "intruder_truth" in ph.columns:
        seg["intruder_truth"] = bootstrap_mean(ph["intruder_truth"].to_numpy())
    dark = segmentation.dark_animals(ph)
    seg["dark"] = {"photos": len(dark), "posts": sorted(set(dark["post_id"])),
                   "lost": bootstrap_mean(ph["lost"].to_numpy()),
                   "list": dark[["image", "post_id", "lost", "silhouette_area",
                                 "threshold_area"]].head(30).to_dict(orient="records")}  # fmt: skip
    seg["cleaned"] = m.cleaned
    seg["cleaned_mAP"] = m.cleaned_maps
    al = m.alignment
    spread = m.spread
    po = {"as_is": al["as_is"], "aligned": al["aligned"], "flip_average": al["flip_average"],
          "gain_aligned": al["gain_aligned"], "gain_flip_average": al["gain_flip_average"],
          "maps": m.maps, "side_a_share": float((ph["side"] > 0).mean()),
          "posts": len(spread), "mixed_posts": int(spread["mixed"].sum()),
          "decided_by": DECIDED_BY}  # fmt: skip
    po["side_embedding_agreement"] = float((ph["side"] == ph["side_embedding"]).mean())
    if "side_truth" in ph.columns:
        truth = ph["side_truth"].to_numpy()
        known = truth != 0
        po["side_accuracy"] = float((ph["side"].to_numpy()[known] == truth[known]).mean())
        po["side_accuracy_embedding"] = pose.side_accuracy(ph["side_embedding"].to_numpy(), truth)
        po["side_truth_known"] = int(known.sum())
    if "truth" in al:
        po["aligned_truth"] = al["truth"]["aligned"]
        po["gain_aligned_truth"] = al["truth"]["gain_aligned"]
        po["side_truth_known"] = int((ph["side_truth"] != 0).sum())
    out: dict = {"dataset": dataset_name, "info": m.info, "segmentation": seg, "pose": po}
    # more data
    data: dict = {"measured": False, "how": EXPERIMENT_HOW}
    if results is not None:
        pts = pollution.curve_points(results)
        try:
            lc = curve.learning_curve(pts, step=step)
        except ValueError as exc:
            data["reason"] = str(exc)
        else:
            fit = lc["fit"]
            data = {"measured": True, "form": fit.form, "a": fit.a, "b": fit.b, "sse": fit.sse,
                    "gain": lc["gain"], "step": step, "fractions": lc["fractions"],
                    "seeds": lc["seeds"], "r2": lc["r2"],
                    "points": pts.to_dict(orient="records"),
                    "per_fraction": lc["per_fraction"].to_dict(orient="records")}  # fmt: skip
    out["more_data"] = data
    pol: dict = {"posts": None, "remedies": None}
    if posts is not None:
        pol["posts"] = pollution.polluted_summary(posts)
    if results is not None:
        try:
            pol["remedies"] = pollution.remedy_gains(results)
        except ValueError as exc:
            pol["remedies_reason"] = str(exc)
    out["polluted"] = pol
    ranked = recommend.rank(candidates(out))
    out["recommendation"] = [c.to_dict() for c in ranked]
    out["summary"] = recommend.summary(ranked)
    return _clean(out)


def _r2(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}"


def _seeds_note(seeds: int) -> str:
    if seeds >= curve.MIN_SEEDS:
        return "interval: seeds resampled"
    return f"{seeds} seed(s) per fraction: no interval (needs {curve.MIN_SEEDS})"


def candidates(d: dict) -> list[recommend.Candidate]:
    """The candidates of a diagnosis (before :func:`build` cleans it to JSON)."""
    seg, po, data, pol = d["segmentation"], d["pose"], d["more_data"], d["polluted"]
    n_intr = seg["photos_with_intruders"]
    sh = seg["shares"]
    out = [recommend.Candidate(
        "better segmentation", f"remove what survives inside the silhouette ({n_intr} photos "
        "with detected hands/collar/grass)", seg["cleaned"]["mAP"],
        f"test time: detected regions blacked out, re-embedded (paired over queries); "
        f"attribution: background {sh['background'].text()}, intruder {sh['intruder'].text()}",
    )]  # fmt: skip
    out.append(recommend.Candidate(
        "aligned poses", "flip every photo to face one side before matching",
        po["gain_aligned"]["mAP"],
        f"test time, paired over queries; {po['mixed_posts']} of {po['posts']} posts mix sides; "
        f"flip averaging {po['gain_flip_average']['mAP'].text(signed=True)}",
    ))  # fmt: skip
    out.append(recommend.Candidate(
        "pose-invariant matching", "average each photo's embedding with its mirror image's "
        "(`--flip`)", po["gain_flip_average"]["mAP"],
        "test time, paired over queries"))  # fmt: skip
    if data["measured"]:
        out.append(recommend.Candidate(
            "more data", f"+{data['step']:.0%} posts", data["gain"],
            f"extrapolated {data['form']} learning curve over {data['fractions']} fractions, "
            f"R² {_r2(data['r2'])}; " + _seeds_note(data["seeds"])))  # fmt: skip
    else:
        out.append(recommend.Candidate("more data", "", None, how=EXPERIMENT_HOW))
    remedies = pol.get("remedies") or {}
    control = remedies.get("random-drop")
    for arm in sorted(a for a in remedies if a != "random-drop"):  # random-drop: the control
        what = f"the experiment's {arm} arm"
        note = (f"; random-drop control {control.text(signed=True)}"
                if control is not None and arm == "drop" else "")  # fmt: skip
        out.append(recommend.Candidate(
            f"polluted posts: {arm}", what, remedies[arm],
            f"retrained, paired t interval over {remedies[arm].n} seeds against the "
            f"baseline{note}"))  # fmt: skip
    if not remedies:
        how = (
            EXPERIMENT_HOW
            if pol.get("posts") is not None
            else f"{SHORTCUTS_HOW}, then {EXPERIMENT_HOW}"
        )
        out.append(recommend.Candidate("polluted posts", "", None, how=how))
    return out


def _bar(names, ests: list[dict], title: str, yaxis: str) -> go.Figure:
    vals = [e["value"] if e["value"] is not None else float("nan") for e in ests]
    hi = [(e["high"] - e["value"]) if e.get("high") is not None else 0 for e in ests]
    lo = [(e["value"] - e["low"]) if e.get("low") is not None else 0 for e in ests]
    fig = go.Figure(go.Bar(x=names, y=vals, error_y={"type": "data", "array": hi,
                                                     "arrayminus": lo}))  # fmt: skip
    fig.update_layout(title=title, yaxis_title=yaxis, height=360, margin={"t": 50, "b": 40})
    return fig


def figures(d: dict) -> dict[str, go.Figure]:
    """One plotly figure per question (keys: segmentation, dark_fur, pose, data, ranking)."""
    seg, po = d["segmentation"], d["pose"]
    names = ["background", "animal", "intruder"]
    ests = [seg["shares"][n] for n in names]
    if "intruder_truth" in seg:
        names.append("intruder (truth masks)")
        ests.append(seg["intruder_truth"])
    figs = {"segmentation": _bar(names, ests, "Share of Grad-CAM attribution (mean over photos, "
                                 "95% bootstrap interval)", "share")}  # fmt: skip
    dark = pd.DataFrame(seg["dark"]["list"])
    fig = go.Figure()
    if len(dark):
        fig.add_trace(go.Bar(x=dark["image"], y=dark["lost"], name="lost by the threshold mask"))
    fig.update_layout(title=f"Dark fur: {seg['dark']['photos']} photos whose threshold mask "
                      "misses ≥ 10% of the silhouette", yaxis_title="share of silhouette lost",
                      height=360)  # fmt: skip
    figs["dark_fur"] = fig
    figs["pose"] = _bar(
        ["as is", "aligned", "flip average"],
        [po["as_is"]["mAP"], po["aligned"]["mAP"], po["flip_average"]["mAP"]],
        "Retrieval mAP with poses as they are, aligned, flip-averaged",
        "mAP",
    )
    data = d["more_data"]
    fig = go.Figure()
    if data["measured"]:
        pts = pd.DataFrame(data["points"])
        fig.add_trace(go.Scatter(x=pts["fraction"], y=pts["mAP"], mode="markers",
                                 name="one model (seed)"))  # fmt: skip
        f = np.linspace(min(pts["fraction"]), 1 + data["step"], 50)
        ft = curve.Fit(data["form"], data["a"], data["b"], data["sse"])
        fig.add_trace(go.Scatter(x=f, y=ft.predict(f), mode="lines", name=f"{data['form']} fit"))
    fig.update_layout(title="Learning curve (mAP vs share of posts)" if data["measured"] else
                      "Learning curve: not measured", xaxis_title="share of posts",
                      yaxis_title="mAP", height=360)  # fmt: skip
    figs["data"] = fig
    rec = [r for r in d["recommendation"] if r["measured"]]
    figs["ranking"] = _bar(
        [r["name"] for r in rec],
        [r["gain"] for r in rec],
        "Estimated mAP gain per candidate",
        "Δ mAP",
    )
    return figs


def _text(e: dict, signed: bool = False) -> str:
    """An Estimate's dict (NaN stored as None) as text."""
    return Estimate(**{k: (float("nan") if v is None else v) for k, v in e.items()}).text(
        signed=signed
    )


def markdown(d: dict) -> str:
    """diagnosis.md: the ranked recommendation first, then one section per question."""
    fmt, sgn = _text, lambda e: _text(e, signed=True)  # a value; a difference
    seg, po, data, pol = d["segmentation"], d["pose"], d["more_data"], d["polluted"]
    info = d["info"]
    lines = [f"# Diagnosis: {d['dataset']} (epoch {info['epoch']})", "",
             f"{info['queries']} queries, {info['gallery']} gallery photos; intervals: 95 % "
             "bootstrap, seed 0.", "", "## Which way to improve", "", *d["summary"], "",
             "## Better segmentation?", "",
             f"Grad-CAM attribution (similarity to itself), mean share per photo: background "
             f"{fmt(seg['shares']['background'])}, animal {fmt(seg['shares']['animal'])}, "
             f"non-animal inside the silhouette {fmt(seg['shares']['intruder'])} "
             f"(from {seg['intruder_source']}; {seg['photos_with_intruders']} photos with a "
             "detection). The silhouette covers "
             f"{fmt(seg['silhouette_area'])} of a photo, so a map blind to the animal would put "
             "about the rest on the background."]  # fmt: skip
    if "intruder_truth" in seg:
        lines.append(
            f"With the manifest's ground-truth masks instead: {fmt(seg['intruder_truth'])}."
        )
    lines += [f"Blacking out the detected regions: mAP {seg['cleaned_mAP']['as_is']:.3f} -> "
              f"{seg['cleaned_mAP']['cleaned']:.3f}, paired gain {sgn(seg['cleaned']['mAP'])}.",
              f"Dark fur: {seg['dark']['photos']} photos ({len(seg['dark']['posts'])} posts) "
              "lose ≥ 10 % of the silhouette under the old threshold mask: "
              + (", ".join(seg["dark"]["posts"][:20]) or "none") + ".", "",
              "## Aligned poses?", "",
              f"Side decided by {po['decided_by']}; "
              f"{po['side_a_share']:.0%} of the photos face right."]  # fmt: skip
    if po.get("side_truth_note"):
        lines.append(f"Facing-side truth: {po['side_truth_note']}.")
    if "side_accuracy" in po and po["side_accuracy"] is not None:
        lines.append(f"Agreement with the generator's facing side ({po['side_truth_known']} "
                     f"side views): silhouette {po['side_accuracy']:.3f}, embedding asymmetry "
                     f"{po['side_accuracy_embedding']:.3f}.")  # fmt: skip
    if "gain_aligned_truth" in po:
        lines.append(f"Aligned with the generator's sides instead: mAP "
                     f"{fmt(po['aligned_truth']['mAP'])}, gain "
                     f"{sgn(po['gain_aligned_truth']['mAP'])}.")  # fmt: skip
    lines += [f"mAP as is {fmt(po['as_is']['mAP'])}, aligned {fmt(po['aligned']['mAP'])} "
              f"(gain {sgn(po['gain_aligned']['mAP'])}), flip-averaged "
              f"{fmt(po['flip_average']['mAP'])} (gain {sgn(po['gain_flip_average']['mAP'])}); "
              f"rank-1 gain aligned {sgn(po['gain_aligned']['rank1'])}.",
              f"Maps of one post's photos on opposite sides ({po['maps']['pairs']} pairs), "
              f"Spearman: as is {fmt(po['maps']['as_is'])}, aligned {fmt(po['maps']['aligned'])}.",
              f"{po['mixed_posts']} of {po['posts']} posts mix facing sides.", "",
              "## More data?", ""]  # fmt: skip
    if data["measured"]:
        lines.append(f"{data['form']} fit over {data['fractions']} fractions: "
                     f"+{data['step']:.0%} posts -> {sgn(data['gain'])} mAP "
                     f"(extrapolated; R² {_r2(data['r2'])}; "
                     f"{_seeds_note(data['seeds'])}).")  # fmt: skip
    else:
        lines.append(
            f"Not measured: run {data['how']}."
            + (f" ({data['reason']})" if data.get("reason") else "")
        )
    lines += ["", "## Polluted posts?", ""]
    if pol["posts"] is not None:
        p = pol["posts"]
        lines.append(f"The shortcut finder blames {p['polluted']} of {p['posts']} posts: "
                     + ", ".join(f"{k} {v}" for k, v in p["by_cause"].items()) + ".")  # fmt: skip
    for arm, e in (pol.get("remedies") or {}).items():
        lines.append(f"{arm}: {sgn(e)} mAP vs baseline (paired t interval over {e['n']} seeds).")
    for line in (pol.get("verdicts") or {}).values():
        lines.append(f"The experiment's verdict — {line}")
    if pol["posts"] is None and not pol.get("remedies"):
        lines.append(f"Not measured: run {SHORTCUTS_HOW}.")
    return "\n".join(lines) + "\n"


def _atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write(d: dict, out: str | Path, tables: dict[str, pd.DataFrame] | None = None) -> list[Path]:
    """Write diagnosis.json, diagnosis.md, plots/NAME.json, plots.html and ``tables`` (name ->
    table, as NAME.csv: e.g. the per-photo measurements) into ``out``."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; give a folder for the diagnosis")
    (out / "plots").mkdir(parents=True, exist_ok=True)
    written = [out / "diagnosis.json", out / "diagnosis.md"]
    _atomic(written[0], json.dumps(d, indent=2, sort_keys=True, allow_nan=False) + "\n")
    _atomic(written[1], markdown(d))
    figs = figures(d)
    html = []
    for i, (name, fig) in enumerate(figs.items()):
        p = out / "plots" / f"{name}.json"
        _atomic(p, fig.to_json())
        written.append(p)
        html.append(fig.to_html(full_html=False, include_plotlyjs=i == 0))
    page = "<html><head><meta charset='utf-8'><title>Diagnosis</title></head><body>"
    _atomic(out / "plots.html", page + "\n".join(html) + "</body></html>\n")
    for name, table in sorted((tables or {}).items()):
        p = out / f"{name}.csv"
        _atomic(p, table.to_csv(index=False, lineterminator="\n"))
        written.append(p)
    return [*written, out / "plots.html"]


def read(folder: str | Path) -> tuple[dict, dict[str, go.Figure]]:
    """A written diagnosis: the dict and its figures (rebuilt from ``plots/*.json``)."""
    folder = Path(folder)
    path = folder / "diagnosis.json"
    if not path.is_file():
        raise ValueError(f"{folder} holds no diagnosis.json; write one with `workbench diagnose`")
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path} is unreadable ({exc}); run `workbench diagnose` again") from exc
    import plotly.io as pio

    figs = {}
    for p in sorted((folder / "plots").glob("*.json")):
        figs[p.stem] = pio.from_json(p.read_text(encoding="utf-8"))
    return d, figs
