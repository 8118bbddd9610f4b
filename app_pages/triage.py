"""Triage: one query at a time — its matches and heatmaps, the suggested bucket, and the
annotator's decision, artifact tags, regions and note, all saved at once to the tag store.

Keys: 1 / 2 / 3 worked / missed / spurious · J next · K previous · N next unreviewed · U undo ·
the letter on each artifact button toggles that tag.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from curation.images import load_rgb
from curation.regions import RegionError
from curation.suggest import REVIEW_STATUSES, review, suggest
from curation.vocabulary import BUCKETS, SUGGESTIONS
from explain.heatmaps.explorer import regions_for
from explain.heatmaps.render import boxes, overlay
from ui import safety
from ui.queries import (
    artifact_tags,
    filter_queries,
    query_table,
    selection_region,
    shortcut_letters,
    triage_table,
)
from ui.widgets import top_k_strip

K_POS = "triage.position"
K_FLASH = "triage.flash"
K_NOTE = "triage.note"
BUCKET_KEYS = {b: str(i) for i, b in enumerate(BUCKETS, start=1)}  # 1 / 2 / 3

st.title("Triage")
ds, models, ev = ui.evaluated()
tags = ui.store(ds)
if tags is None:
    st.stop()
labels = ui.epoch_labels(models)
who = ui.annotator()

screen = st.sidebar.selectbox(
    "Model on screen", labels, index=len(labels) - 1, key="triage.epoch",
    help="Its ranking, heatmaps and suggestions are shown; tags record it.",
)  # fmt: skip
member = models[labels.index(screen)]
k = int(st.sidebar.number_input("Top-k the team looks at", 1, ui.TOP_K, 5, key="triage.k"))
advance = st.sidebar.toggle("Next query after deciding", value=True, key="triage.advance")
per_query = ev.per_query[labels.index(screen)]
state = ui.store_state(tags)
found = ui.outcomes(ds, member, per_query, state)
suggestions = review(suggest(found, k=k), state)
table = triage_table(query_table(ds, per_query, state, k), suggestions, found)

reviewed = int((table["bucket"] != "").sum())
st.progress(reviewed / max(len(table), 1), text=f"{reviewed} of {len(table)} queries reviewed")

c1, c2, c3 = st.columns(3)
f_sugg = c1.multiselect("Suggested", SUGGESTIONS, key="triage.f_sugg")
f_status = c2.multiselect("Status", REVIEW_STATUSES, key="triage.f_status")
f_art = c3.multiselect("Artifact", artifact_tags(table), key="triage.f_art")
shown = filter_queries(table, suggested=f_sugg, status=f_status, artifacts=f_art)
if shown.empty:
    st.info("No query passes these filters; widen them.")
    st.stop()
queue = shown["query"].tolist()
if st.session_state.get(ui.K_QUERY) in queue:
    st.session_state[K_POS] = queue.index(st.session_state[ui.K_QUERY])
pos = min(int(st.session_state.get(K_POS, 0)), len(queue) - 1)


def go(to: int) -> None:
    st.session_state[K_POS] = to % len(queue)
    st.session_state[ui.K_QUERY] = queue[to % len(queue)]


def next_unreviewed() -> None:
    pending = [i for i, b in enumerate(shown["bucket"]) if b == ""]
    after = [i for i in pending if i > pos] or pending
    if after:
        go(after[0])
    else:
        st.session_state[K_FLASH] = "Every query in this list is reviewed."


def need_name() -> bool:
    if not who:
        st.session_state[K_FLASH] = (
            "Enter your name as Annotator in the sidebar first."
            if safety.signed_in_user() is None
            else "Not saved: the identity provider sent no email or name to record tags under."
        )
        return True
    return False


def not_saved(exc: BaseException) -> None:
    st.session_state[K_FLASH] = f"Not saved: {ui.store_problem(ui.workspace().store, exc)}"


def saved(what: str) -> None:
    st.session_state[K_FLASH] = f"Saved: {what}"


@safety.callback
def decide(bucket: str, image: str, sugg: str | None) -> None:
    if need_name():
        return
    try:
        tags.set_bucket(
            image, bucket, who, suggested=sugg, model=model_id, epoch=member.epoch,
        )  # fmt: skip
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    saved(f"{image} → {bucket}")
    if advance:
        go(pos + 1)


@safety.callback
def set_artifacts(image: str, names: list[str], regions: list[dict]) -> None:
    if need_name():
        return
    keep = [r for r in regions if r["artifact"] in names]
    try:
        tags.set_artifacts(image, sorted(names), who, keep, model=model_id, epoch=member.epoch)
    except RegionError as exc:
        st.session_state[K_FLASH] = f"Not saved: {exc}"
        return
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    saved(f"{image} artifacts: {', '.join(sorted(names)) or 'none'}")


@safety.callback
def save_note(image: str) -> None:
    if need_name():
        return
    try:
        tags.set_note(image, st.session_state.get(f"{K_NOTE}.{image}", ""), who)
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    saved(f"note on {image}")


@safety.callback
def add_region(image: str, have: list[str], regions: list[dict], region: dict) -> None:
    tag = st.session_state["triage.region_tag"]
    set_artifacts(image, sorted({*have, tag}), [*regions, {"artifact": tag, **region}])


@safety.callback
def undo() -> None:
    if need_name():
        return
    try:
        ev_ = tags.undo(who)
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    st.session_state[K_FLASH] = (
        f"Undid your {ev_['action']} on {ev_['target']}" if ev_ else "Nothing of yours to undo."
    )
    if ev_ and ev_["target"] in queue:
        go(queue.index(ev_["target"]))


row = shown.iloc[pos]
image = row["query"]
model_id = f"{member.arch}:{member.sha1[:12]}"
mine = state[state["image"] == image]
current = mine.iloc[0] if len(mine) else None
have = [] if current is None or not current["artifacts"] else current["artifacts"].split(";")
regions = [] if current is None else list(current["regions"] or [])

# -- navigation ------------------------------------------------------------------------------
nav = st.columns([1, 1, 1, 1, 3])
nav[0].button("Previous", key="triage.prev", on_click=go, args=(pos - 1,), shortcut="K")
nav[1].button("Next", key="triage.next", on_click=go, args=(pos + 1,), shortcut="J")
nav[2].button("Next unreviewed", key="triage.unreviewed", on_click=next_unreviewed, shortcut="N")
nav[3].button("Undo", key="triage.undo", on_click=undo, shortcut="U")
nav[4].markdown(f"**{pos + 1} / {len(queue)}** · `{image}` · post {row['post_id']}")
flash = st.session_state.pop(K_FLASH, None)
if flash:
    (st.warning if flash.startswith(("Not saved", "Enter")) else st.success)(flash)

top_k_strip(ds, row, k=k)

# -- suggestion and decision -----------------------------------------------------------------
sugg = row["suggested"] if isinstance(row["suggested"], str) else None
left, right = st.columns([3, 2])
with left:
    st.markdown(f"**Suggested: {sugg or '–'}** — {row['reason']}")
    st.caption(
        f"attribution on the animal {ui.pct(row['animal_mass'])} ({row['animal_source']} mask), "
        f"on artifacts {ui.pct(row['artifact_mass'])} ({row['artifact_source']}); "
        f"Grad-CAM of the {row['target']}, {screen}"
    )
    cols = st.columns(3)
    for col, bucket in zip(cols, BUCKETS, strict=True):
        col.button(
            bucket, key=f"triage.b.{bucket}", on_click=decide, args=(bucket, image, sugg),
            type="primary" if bucket == sugg else "secondary", shortcut=BUCKET_KEYS[bucket],
            width="stretch",
        )  # fmt: skip
    if current is not None and isinstance(current["bucket"], str) and current["bucket"]:
        st.info(
            f"Decided **{current['bucket']}** by {current['annotator']} at "
            f"{pd.Timestamp(current['time']).strftime('%Y-%m-%d %H:%M:%S')} UTC"
            + (f" · artifacts: {current['artifacts']}" if current["artifacts"] else "")
        )
    st.markdown("**Artifacts**")
    vocab = tags.vocabulary()
    letters = shortcut_letters(vocab, reserved="CRJKNU123")
    cols = st.columns(5)
    for i, tag in enumerate(vocab):
        on = tag in have
        names = [a for a in have if a != tag] if on else [*have, tag]
        cols[i % 5].button(
            f"{'✓ ' if on else ''}{tag}", key=f"triage.a.{tag}", on_click=set_artifacts,
            args=(image, names, regions), shortcut=letters[tag],
            type="primary" if on else "secondary", width="stretch",
        )  # fmt: skip
    truth = ds.table.loc[ds.table["image"] == image, "artifacts"] if ds.has_ground_truth else []
    if len(truth) and isinstance(truth.iloc[0], str) and truth.iloc[0]:
        st.caption(f"Ground truth of the sample data: {truth.iloc[0]}")

    note = st.text_area(
        "Note",
        value=(current["note"] or "") if current is not None else "",
        key=f"{K_NOTE}.{image}",
    )
    st.button("Save note", key="triage.save_note", on_click=save_note, args=(image,))

with right:
    q = ui.load_photo(ds, image, member.input_size)
    reg = regions_for(ds, image, member.input_size, annotator_regions=regions,
                      original_size=q.original_size, picture=q.picture)  # fmt: skip
    match = None
    if isinstance(row.get("top1_image"), str):
        match = ui.load_photo(ds, row["top1_image"], member.input_size)
    exp = ui.explanation(models, q, ["gradcam"], {"gradcam": {}}, match=match, regions=reg,
                         regions_key=f"{image}:{regions}")  # fmt: skip
    if exp is not None:
        maps = exp.query["gradcam"]
        tiles = [overlay(q.picture, hm.map) for hm in maps.heatmaps]
        st.image(tiles, caption=maps.labels, width=96)
        if match is not None:
            st.image(
                [overlay(match.picture, hm.map) for hm in exp.match["gradcam"].heatmaps],
                caption=[f"top-1 · {lb}" for lb in maps.labels], width=96,
            )  # fmt: skip

# -- regions ---------------------------------------------------------------------------------
st.markdown("**Mark a region** — drag a box (or lasso) over the artifact, then add it.")
orig = q.original_size
full = np.asarray(load_rgb(ds.path(image)))  # regions are in the file's own pixels
fig = px.imshow(boxes(full, regions, orig) if regions else full)
fig.update_layout(dragmode="select", height=420, margin={"l": 0, "r": 0, "t": 0, "b": 0})
fig.update_xaxes(showticklabels=False)
fig.update_yaxes(showticklabels=False)
c1, c2 = st.columns([1, 1])
event = c1.plotly_chart(
    fig, key=f"triage.canvas.{image}", on_select="rerun", selection_mode=("box", "lasso"),
    width="content", config={"displayModeBar": True},
)  # fmt: skip
with c2:
    region = selection_region(event.selection if event is not None else None, orig)
    if region is not None:
        tag = st.selectbox("Artifact in this region", vocab, key="triage.region_tag")
        st.button(
            "Add region", key="triage.add_region", type="primary", on_click=add_region,
            args=(image, have, regions, region),
        )  # fmt: skip
    for i, r in enumerate(regions):
        pts = ", ".join(f"({x:.0f}, {y:.0f})" for x, y in r["points"][:4])
        c = st.columns([4, 1])
        c[0].caption(f"{r['artifact']} · {r['kind']} {pts}")
        c[1].button(
            "Remove", key=f"triage.rm.{i}", on_click=set_artifacts,
            args=(image, have, regions[:i] + regions[i + 1 :]),
        )  # fmt: skip

with st.expander("History of this photo"):
    st.dataframe(tags.history(image), hide_index=True, key="triage.history")
