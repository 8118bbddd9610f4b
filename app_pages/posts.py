"""Posts: the training (or gallery) posts, one at a time as a row of its photos with what the
detectors found drawn on them, ranked by the shortcut score of ``workbench shortcuts``; tag
every photo of a post at once, confirm or reject its detections, flag it, move on.

Keys: J next · K previous · N next unreviewed · Y confirm detections · D reject (dismiss)
detections · T tag all photos · E flag the post "exclude" · U undo (the whole last action).
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

import ui
from curation.images import load_rgb
from curation.perception.catalog import select
from curation.perception.runner import detect_dataset
from explain.storage.cache import DiskCache
from ui import safety
from ui.detections import draw
from ui.posts import (
    ScoresError,
    cause_kind,
    detected_of,
    filter_posts,
    post_table,
    read_scores,
    tag_all,
)

K_POS = "posts.position"
K_FLASH = "posts.flash"
K_LAST = "posts.last_action"  # how many events the annotator's last action on this page wrote
PER_ROW = 6
REVIEW_MARK = {"confirmed": " ✓", "rejected": " ✗"}

st.title("Posts")
ds = ui.dataset()
if ds is None:
    st.stop()
tags = ui.store(ds)
if tags is None:
    st.stop()
who = ui.annotator()

splits = [s for s in ("train", "gallery", "query") if s in set(ds.table["split"])]
split = st.sidebar.selectbox(
    "Split", splits, key="posts.split", help="Whose posts to review; curation rules act on train."
)
default_scores = ui.workspace_dir() / "shortcuts" / "posts.csv"
raw = st.sidebar.text_input(
    "Shortcut scores (posts.csv)", value=str(default_scores), key="posts.scores",
    help="Written by `workbench shortcuts --data DIR --checkpoints SERIES --out posts.csv`.",
)  # fmt: skip
scores = None
if raw.strip():
    path = ui.allowed(raw.strip(), "The shortcut-score table", exists=False, expect="file")
    if path is not None and path.exists():
        try:
            scores = read_scores(path)
        except ScoresError as exc:
            st.sidebar.error(str(exc))
    elif path is not None:
        st.sidebar.info(
            "No shortcut scores yet: posts are listed by id. Score them with "
            f"`workbench shortcuts --data {ds.root} --checkpoints SERIES --out {path}`."
        )
raw_det = st.sidebar.text_input(
    "Detections (detections.csv, optional)", value="", key="posts.detections",
    help="Written by `workbench detect --data DIR --out detections.csv`; without it the "
    "detectors run on the post on screen only.",
)  # fmt: skip
detections = None
if raw_det.strip():
    dpath = ui.allowed(
        raw_det.strip(),
        "The detections table",
        expect="file",
        fix="Write it with `workbench detect --out detections.csv`.",
    )
    if dpath is not None:
        try:
            detections = pd.read_csv(dpath, dtype={"post_id": str})
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            st.sidebar.error(f"{dpath} cannot be read ({exc}); write it with `workbench detect`.")

stored = tags.detections()
if detections is None and len(stored):
    detections = stored  # what `workbench detect --to-store` or this page's reviews wrote
state = ui.store_state(tags)
posts = post_table(ds.table, split, state, scores=scores, flags=tags.post_flags(),
                   detections=detections)  # fmt: skip

c1, c2, c3, c4 = st.columns(4)
vocab = tags.vocabulary()
f_art = c1.multiselect("Artifact (cause or tag)", vocab, key="posts.f_art")
f_det = c2.multiselect("Detected", [e.name for e in select("pixel")], key="posts.f_det",
                       disabled=detections is None,
                       help="Needs detections: a table (sidebar) or `workbench detect "
                       "--to-store`.")  # fmt: skip
f_min = c3.number_input("Score at least", value=None, step=0.05, key="posts.f_min",
                        disabled=scores is None)  # fmt: skip
f_rev = c4.selectbox("Reviewed", ["all", "not reviewed", "reviewed"], key="posts.f_rev")
shown = filter_posts(posts, artifacts=f_art, min_score=f_min, reviewed=f_rev, detected=f_det)
done = int(posts["reviewed"].sum())
st.progress(done / max(len(posts), 1), text=f"{done} of {len(posts)} {split} posts reviewed")
if shown.empty:
    st.info("No post passes these filters; widen them.")
    st.stop()
queue = shown["post_id"].tolist()
pos = min(int(st.session_state.get(K_POS, 0)), len(queue) - 1)
row = shown.iloc[pos]
photos: list[str] = list(row["photos"])


def go(to: int) -> None:
    st.session_state[K_POS] = to % len(queue)


def next_unreviewed() -> None:
    pending = [i for i, r in enumerate(shown["reviewed"]) if not r and i != pos]
    after = [i for i in pending if i > pos] or pending
    if after:
        go(after[0])
    else:
        st.session_state[K_FLASH] = "Every post in this list is reviewed."


def need_name() -> bool:
    if not who:
        st.session_state[K_FLASH] = "Enter your name as Annotator in the sidebar first."
        return True
    return False


def wrote(n: int, what: str) -> None:
    st.session_state[K_LAST] = n
    st.session_state[K_FLASH] = f"Saved: {what}" if n else f"Nothing to save: {what}"


@safety.callback
def tag_post(artifact: str) -> None:
    if need_name():
        return
    todo = tag_all(photos, artifact, state)
    try:
        for image, names, regions in todo:
            tags.set_artifacts(image, names, who, regions)
    except ui.STORE_ERRORS as exc:
        st.session_state[K_FLASH] = f"Not saved: {ui.store_problem(ui.workspace().store, exc)}"
        return
    wrote(len(todo), f"{artifact} on {len(todo)} photo(s) of post {row['post_id']}")


@safety.callback
def review(verdict: str, found: pd.DataFrame, hits: pd.DataFrame) -> None:
    if need_name():
        return
    try:
        tags.add_detections(found)  # the machine tags first (unchanged ones are not re-added)
        for r in hits.itertuples(index=False):
            tags.review_detection(r.image, r.artifact, r.annotator, verdict=verdict, annotator=who)
    except ui.STORE_ERRORS as exc:
        st.session_state[K_FLASH] = f"Not saved: {ui.store_problem(ui.workspace().store, exc)}"
        return
    wrote(len(hits), f"{verdict} {len(hits)} detection(s) of post {row['post_id']}")


@safety.callback
def flag_exclude() -> None:
    if need_name():
        return
    have = [f for f in str(row["flags"]).split(";") if f]
    new = [f for f in have if f != "exclude"] if "exclude" in have else [*have, "exclude"]
    try:
        tags.flag_post(row["post_id"], sorted(new), who)
    except ui.STORE_ERRORS as exc:
        st.session_state[K_FLASH] = f"Not saved: {ui.store_problem(ui.workspace().store, exc)}"
        return
    wrote(1, f"post {row['post_id']} flags: {', '.join(sorted(new)) or 'none'}")


@safety.callback
def undo() -> None:
    if need_name():
        return
    n = max(1, int(st.session_state.pop(K_LAST, 1)))
    undone = []
    try:
        for _ in range(n):
            ev = tags.undo(who)
            if ev is None:
                break
            undone.append(ev)
    except ui.STORE_ERRORS as exc:
        st.session_state[K_FLASH] = f"Not saved: {ui.store_problem(ui.workspace().store, exc)}"
        return
    st.session_state[K_FLASH] = (
        f"Undid {len(undone)} change(s) of yours, the last on {undone[-1]['target']}"
        if undone else "Nothing of yours to undo."
    )  # fmt: skip


@st.cache_data(show_spinner="Looking for artifacts in this post's photos…", max_entries=64)
def _detect(data: str, images: tuple[str, ...], _ds) -> pd.DataFrame:
    cache = DiskCache(ui.cache_dir(), "perception")
    found, _ = detect_dataset(_ds, "pixel", cache=cache, images=list(images))
    return found


# -- navigation ------------------------------------------------------------------------------
nav = st.columns([1, 1, 1, 1, 3])
nav[0].button("Previous", key="posts.prev", on_click=go, args=(pos - 1,), shortcut="K")
nav[1].button("Next", key="posts.next", on_click=go, args=(pos + 1,), shortcut="J")
nav[2].button("Next unreviewed", key="posts.unreviewed", on_click=next_unreviewed, shortcut="N")
nav[3].button("Undo", key="posts.undo", on_click=undo, shortcut="U")
nav[4].markdown(f"**{pos + 1} / {len(queue)}** · post **{row['post_id']}** · {row['n']} photos")
flash = st.session_state.pop(K_FLASH, None)
if flash:
    (st.warning if flash.startswith(("Not saved", "Enter")) else st.success)(flash)

# -- the reason and the numbers ---------------------------------------------------------------
if pd.notna(row["score"]):
    st.markdown(
        f"**Shortcut score {row['score']:.3f}** — cause: **{row['cause'] or '–'}** · "
        f"data evidence {row['data_score']:.2f} (share of photos with it) · "
        f"model reliance {row['reliance']:+.3f} (similarity drop without it, minus a control)"
    )
    if row["evidence"]:
        with st.expander("Evidence"):
            try:
                st.json(json.loads(row["evidence"]))
            except json.JSONDecodeError:
                st.code(row["evidence"])
else:
    st.caption("No shortcut score for this post (see the sidebar).")
# -- the post's photos, with the detections drawn -------------------------------------------
found = _detect(ui.data_key(ds), tuple(photos), ds)
hits = detected_of(found, photos)
seen = hits.groupby("artifact")["image"].nunique() if len(hits) else {}
st.caption(
    f"Tagged: {row['tagged'] or 'nothing'} · detected: "
    f"{', '.join(f'{a} {n}/{len(photos)}' for a, n in dict(seen).items()) or '–'} · "
    f"flags: {row['flags'] or 'none'}"
)
reviews = {(r.image, r.artifact): r.review for r in stored.itertuples(index=False)}
people = state[~state["annotator"].astype(str).str.startswith("detector:")] if len(state) else state
mine = people.set_index("image") if len(people) else None
for start in range(0, len(photos), PER_ROW):
    cols = st.columns(PER_ROW)
    for col, image in zip(cols, photos[start : start + PER_ROW], strict=False):
        full = load_rgb(ds.path(image))
        size = full.size
        full.thumbnail((320, 320))
        machine = [
            {"artifact": h.artifact, "score": h.score, "detector": h.annotator,
             "review": reviews.get((image, h.artifact), "unreviewed"),
             "regions": json.loads(h.region) if isinstance(h.region, str) else h.region}
            for h in hits[hits["image"] == image].itertuples(index=False)
        ]  # fmt: skip
        human = (
            list(mine.at[image, "regions"] or [])
            if mine is not None and image in mine.index
            else []
        )
        pic = draw(full, human=human, detections=machine, source_size=size)
        labels = [
            f"{h.artifact} {h.score:.2f}" + REVIEW_MARK.get(reviews.get((image, h.artifact)), "")
            for h in hits[hits["image"] == image].itertuples()
        ]
        tagged = mine.at[image, "artifacts"] if mine is not None and image in mine.index else ""
        col.image(pic, width="stretch")
        col.caption(f"`{image.rsplit('/', 1)[-1]}`  \ndetected: {', '.join(labels) or '–'}"
                    f"  \ntagged: {tagged or '–'}")  # fmt: skip

# -- actions ---------------------------------------------------------------------------------
a1, a2, a3, a4 = st.columns([2, 1, 1, 1])
start = vocab.index(cause_kind(row["cause"])) if cause_kind(row["cause"]) in vocab else 0
artifact = a1.selectbox(
    "Artifact for the whole post",
    vocab,
    key=f"posts.tag_all_artifact.{row['post_id']}",
    index=start,
)
a1.button("Tag all photos", key="posts.tag_all", on_click=tag_post, args=(artifact,),
          shortcut="T", type="primary")  # fmt: skip
a2.button(f"Confirm detections ({len(hits)})", key="posts.confirm", on_click=review,
          args=("confirm", found, hits), shortcut="Y", disabled=hits.empty)  # fmt: skip
a3.button(f"Reject detections ({len(hits)})", key="posts.reject", on_click=review,
          args=("reject", found, hits), shortcut="D", disabled=hits.empty)  # fmt: skip
a4.button("Flag exclude" if "exclude" not in str(row["flags"]) else "Unflag exclude",
          key="posts.flag", on_click=flag_exclude, shortcut="E")  # fmt: skip

if row["queries"]:
    st.markdown("**This animal's queries in Triage**")
    st.dataframe(
        pd.DataFrame(row["queries"], columns=["query", "decision"]).replace({"": "–"}),
        hide_index=True, key="posts.queries",
    )  # fmt: skip

st.markdown("**All posts in this list**")
scored = ["score", "data_score", "reliance", "cause"] if scores is not None else []
listing = shown[["post_id", "n", *scored, "tagged", "detected", "reviewed"]]
picked = st.dataframe(listing, hide_index=True, key="posts.list", on_select="rerun",
                      selection_mode="single-row")  # fmt: skip
rows = list(picked.selection.rows) if picked is not None else []
if rows != st.session_state.get("posts.list_seen", []):  # react to a new click only
    st.session_state["posts.list_seen"] = rows
    if rows and rows[0] != pos:
        go(rows[0])
        st.rerun()
