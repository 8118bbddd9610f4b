"""Triage: one query at a time — its matches and heatmaps, the suggested bucket, and the
annotator's decision, artifact tags, regions and note, all saved at once to the tag store.

Keys: 1 / 2 / 3 worked / missed / spurious · J next · K previous · N next undecided (the current
query counts when it is undecided) · U undo · the letter on each artifact button toggles that
tag. Everything below the filters is one fragment: a key press reruns only it, and the next
query's photos and maps are prepared after each run. A note typed and not saved is saved when
you move on (J, K, N, a decision), or kept per query in the session while no annotator is set.
Address: ``triage?query=…&epoch=…``.
"""

from __future__ import annotations

import pandas as pd
import plotly.express as px
import streamlit as st

import ui
from curation.regions import RegionError
from curation.suggest import REVIEW_STATUSES, review, suggest
from curation.vocabulary import BUCKETS, SUGGESTIONS
from explain.heatmaps.explorer import regions_for
from explain.heatmaps.render import boxes, overlay
from ui import links, safety
from ui.queries import (
    artifact_tags,
    decision,
    filter_queries,
    next_unreviewed,
    note_text,
    query_table,
    selection_region,
    shortcut_letters,
    triage_table,
)
from ui.widgets import top_k_strip

PAGE = "triage"
K_POS = "triage.position"
K_FLASH = "triage.flash"
K_NOTE = "triage.note"
K_DRAFTS = "triage.drafts"  # {image: note text} typed but not saved (no annotator yet)
K_EPOCH = "triage.epoch"
BUCKET_KEYS = {b: str(i) for i, b in enumerate(BUCKETS, start=1)}  # 1 / 2 / 3

st.title("Triage")
ds, models, ev = ui.evaluated()
tags = ui.store(ds)
if tags is None:
    st.stop()
labels = ui.epoch_labels(models)

links.adopt(PAGE, links.EPOCH, K_EPOCH, labels, what="the epoch of a loaded checkpoint",
            parse=links.epoch_parser(models))  # fmt: skip
if st.session_state.get(K_EPOCH) not in labels:
    st.session_state[K_EPOCH] = labels[-1]
screen = st.sidebar.selectbox(
    "Model on screen", labels, key=K_EPOCH,
    help="Its ranking, heatmaps and suggestions are shown; tags record it.",
)  # fmt: skip
member = models[labels.index(screen)]
model_id = f"{member.arch}:{member.sha1[:12]}"
k = int(st.sidebar.number_input("Top-k the team looks at", 1, ui.TOP_K, 5, key="triage.k"))
st.sidebar.toggle("Next query after deciding", value=True, key="triage.advance")
per_query = ev.per_query[labels.index(screen)]
state = ui.store_state(tags)
found = ui.outcomes(ds, member, per_query, state)
suggestions = review(suggest(found, k=k), state)
table = triage_table(query_table(ds, per_query, state, k), suggestions, found)

c1, c2, c3 = st.columns(3)
f_sugg = c1.multiselect("Suggested", SUGGESTIONS, key="triage.f_sugg")
f_status = c2.multiselect("Status", REVIEW_STATUSES, key="triage.f_status")
f_art = c3.multiselect("Artifact", artifact_tags(table), key="triage.f_art")
shown = filter_queries(table, suggested=f_sugg, status=f_status, artifacts=f_art)
if shown.empty:
    st.info("No query passes these filters; widen them.")
    st.stop()
queue = shown["query"].tolist()
links.adopt_query(PAGE, ui.K_QUERY, queue, table["query"].tolist())


# -- actions (widget callbacks: they run before the fragment reruns) ------------------------


def flash(text: str) -> None:
    st.session_state[K_FLASH] = text


def need_name() -> bool:
    if not ui.annotator():
        flash(
            "Enter your name as Annotator in the sidebar first."
            if safety.signed_in_user() is None
            else "Not saved: the identity provider sent no email or name to record tags under."
        )
        return True
    return False


def not_saved(exc: BaseException) -> None:
    flash(f"Not saved: {ui.store_problem(ui.workspace().store, exc)}")


def keep_note(image: str, stored: str) -> None:
    """Before leaving ``image``: a note typed in its box and different from the ``stored`` one
    is saved (or kept in the session while no annotator is set)."""
    text = st.session_state.get(f"{K_NOTE}.{image}")
    if text is None or text == stored:
        return
    drafts = st.session_state.setdefault(K_DRAFTS, {})
    if not ui.annotator():
        drafts[image] = text
        flash(f"Enter your name as Annotator in the sidebar: the note on {image} is kept, unsaved.")
        return
    try:
        tags.set_note(image, text, ui.annotator())
    except ui.STORE_ERRORS as exc:
        drafts[image] = text
        not_saved(exc)
        return
    drafts.pop(image, None)
    flash(f"Saved: note on {image}")


def go(to: int, image: str, stored: str) -> None:
    keep_note(image, stored)
    st.session_state[K_POS] = to % len(queue)
    st.session_state[ui.K_QUERY] = queue[to % len(queue)]


@safety.callback
def move(to: int, image: str, stored: str) -> None:
    go(to, image, stored)


@safety.callback
def to_unreviewed(pos: int, image: str, stored: str) -> None:
    decided = ui.store_state(tags)
    done = set(decided.loc[decided["bucket"].fillna("").astype(bool), "image"])
    target = next_unreviewed([q in done for q in queue], pos)
    if target is None:
        keep_note(image, stored)
        flash("Every query in this list is decided.")
    elif target == pos:
        keep_note(image, stored)
        flash("This query is the next undecided one: decide it (1 / 2 / 3) or pass it with J.")
    else:
        go(target, image, stored)


@safety.callback
def decide(bucket: str, image: str, sugg: str | None, pos: int, stored: str) -> None:
    if need_name():
        return
    try:
        tags.set_bucket(
            image, bucket, ui.annotator(), suggested=sugg, model=model_id, epoch=member.epoch,
        )  # fmt: skip
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    flash(f"Saved: {image} → {bucket}")
    if st.session_state.get("triage.advance", True):
        go(pos + 1, image, stored)
        st.session_state[K_FLASH] = f"Saved: {image} → {bucket}"
    else:
        keep_note(image, stored)


@safety.callback
def set_artifacts(image: str, names: list[str], regions: list[dict]) -> None:
    if need_name():
        return
    keep = [r for r in regions if r["artifact"] in names]
    try:
        tags.set_artifacts(
            image, sorted(names), ui.annotator(), keep, model=model_id, epoch=member.epoch
        )
    except RegionError as exc:
        flash(f"Not saved: {exc}")
        return
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    flash(f"Saved: {image} artifacts: {', '.join(sorted(names)) or 'none'}")


@safety.callback
def save_note(image: str) -> None:
    if need_name():
        return
    try:
        tags.set_note(image, st.session_state.get(f"{K_NOTE}.{image}", ""), ui.annotator())
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    st.session_state.get(K_DRAFTS, {}).pop(image, None)
    flash(f"Saved: note on {image}")


@safety.callback
def add_region(image: str, have: list[str], regions: list[dict], region: dict) -> None:
    tag = st.session_state["triage.region_tag"]
    set_artifacts(image, sorted({*have, tag}), [*regions, {"artifact": tag, **region}])


@safety.callback
def undo() -> None:
    if need_name():
        return
    try:
        ev_ = tags.undo(ui.annotator())
    except ui.STORE_ERRORS as exc:
        not_saved(exc)
        return
    flash(f"Undid your {ev_['action']} on {ev_['target']}" if ev_ else "Nothing of yours to undo.")
    if ev_ and ev_["target"] in queue:
        st.session_state[K_POS] = queue.index(ev_["target"])
        st.session_state[ui.K_QUERY] = ev_["target"]


# -- what is drawn ---------------------------------------------------------------------------


def maps_for(row: pd.Series, regions: list[dict]):
    """The query's photo, its regions, the top-1 photo and their Grad-CAM maps (cached)."""
    image = row["query"]
    q = ui.load_photo(ds, image, member.input_size)
    reg = regions_for(ds, image, member.input_size, annotator_regions=regions,
                      original_size=q.original_size, picture=q.picture)  # fmt: skip
    match = None
    if isinstance(row.get("top1_image"), str):
        match = ui.load_photo(ds, row["top1_image"], member.input_size)
    exp = ui.explanation(models, q, ["gradcam"], {"gradcam": {}}, match=match, regions=reg,
                         regions_key=f"{image}:{regions}")  # fmt: skip
    return q, match, exp


def prefetch(row: pd.Series, current: pd.DataFrame) -> None:
    """Prepare the next query (photos, thumbnails, maps) so moving to it reads caches only."""
    mine = current[current["image"] == row["query"]]
    regions = list(mine.iloc[0]["regions"] or []) if len(mine) else []
    maps_for(row, regions)
    ui.full_photo(ds, row["query"], checkerboard=True)
    for img in list(row["top_images"])[:k]:
        ui.thumbnail(ds, img)


def panel() -> None:
    current = ui.store_state(tags)  # fresh on every key press: other annotators write too
    decided = dict(zip(current["image"], current["bucket"].fillna(""), strict=True))
    reviewed = sum(bool(decided.get(q)) for q in table["query"])
    st.progress(reviewed / max(len(table), 1), text=f"{reviewed} of {len(table)} queries reviewed")
    if st.session_state.get(ui.K_QUERY) in queue:
        st.session_state[K_POS] = queue.index(st.session_state[ui.K_QUERY])
    pos = min(int(st.session_state.get(K_POS, 0)), len(queue) - 1)
    row = shown.iloc[pos]
    image = row["query"]
    st.session_state[ui.K_QUERY] = image
    links.write(PAGE, **{links.QUERY: image, links.EPOCH: member.epoch})
    mine = current[current["image"] == image]
    now = mine.iloc[0] if len(mine) else None
    have = [] if now is None or not now["artifacts"] else now["artifacts"].split(";")
    regions = [] if now is None else list(now["regions"] or [])
    stored = note_text(None if now is None else now["note"])
    bucket_now = decided.get(image) or None

    nav = st.columns([1, 1, 1, 1, 3])
    nav[0].button("Previous", key="triage.prev", on_click=move, args=(pos - 1, image, stored),
                  shortcut="K")  # fmt: skip
    nav[1].button("Next", key="triage.next", on_click=move, args=(pos + 1, image, stored),
                  shortcut="J")  # fmt: skip
    nav[2].button("Next undecided", key="triage.unreviewed", on_click=to_unreviewed,
                  args=(pos, image, stored), shortcut="N",
                  help="The first undecided query from this one on (this one counts).")  # fmt: skip
    nav[3].button("Undo", key="triage.undo", on_click=undo, shortcut="U")
    nav[4].markdown(f"**{pos + 1} / {len(queue)}** · `{image}` · post {row['post_id']}")
    message = st.session_state.pop(K_FLASH, None)
    if message:
        bad = message.startswith(("Not saved", "Enter"))
        (st.warning if bad else st.success)(message)

    top_k_strip(ds, row, k=k)

    sugg = row["suggested"] if isinstance(row["suggested"], str) else None
    left, right = st.columns([3, 2])
    with left:
        st.markdown(
            f"**Decision: {bucket_now or 'not decided'}** · suggested: {sugg or ui.EMPTY}"
            f" — {row['reason'] if isinstance(row['reason'], str) else 'no suggestion'}"
        )
        st.caption(
            f"attribution on the animal {ui.pct(row['animal_mass'])} ({row['animal_source']} "
            f"mask), on artifacts {ui.pct(row['artifact_mass'])} ({row['artifact_source']}); "
            f"Grad-CAM of the {row['target']}, {screen}. The filled button is the decision, "
            "the lightbulb the suggestion."
        )
        cols = st.columns(3)
        for col, bucket in zip(cols, BUCKETS, strict=True):
            col.button(
                bucket, key=f"triage.b.{bucket}", on_click=decide,
                args=(bucket, image, sugg, pos, stored),
                type="primary" if bucket == bucket_now else "secondary",
                icon=":material/lightbulb:" if bucket == sugg else None,
                help="suggested" if bucket == sugg else None,
                shortcut=BUCKET_KEYS[bucket], width="stretch",
            )  # fmt: skip
        made = decision(tags.history(image)) if bucket_now else None
        if made is not None:
            st.info(
                f"Decided **{made['bucket']}** by {made['annotator']} at "
                f"{pd.Timestamp(made['time']).strftime('%Y-%m-%d %H:%M:%S')} UTC"
                + (f" · artifacts: {now['artifacts']}" if now["artifacts"] else "")
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
        note_key = f"{K_NOTE}.{image}"
        if note_key not in st.session_state:
            st.session_state[note_key] = st.session_state.get(K_DRAFTS, {}).get(image, stored)
        st.text_area("Note", key=note_key, help="Saved when you move on, or with Save note.")
        st.button("Save note", key="triage.save_note", on_click=save_note, args=(image,))

    with right:
        q, match, exp = maps_for(row, regions)
        if exp is not None:
            maps = exp.query["gradcam"]
            tiles = [overlay(ui.on_checkerboard(q.picture), hm.map) for hm in maps.heatmaps]
            st.image(tiles, caption=maps.labels, width=96)
            if match is not None:
                st.image(
                    [overlay(ui.on_checkerboard(match.picture), hm.map)
                     for hm in exp.match["gradcam"].heatmaps],
                    caption=[f"top-1 · {lb}" for lb in maps.labels], width=96,
                )  # fmt: skip

    st.markdown("**Mark a region** — drag a box (or lasso) over the artifact, then add it.")
    orig = q.original_size
    full = ui.full_photo(ds, image, checkerboard=True)  # regions are in the file's own pixels
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
            st.selectbox("Artifact in this region", vocab, key="triage.region_tag")
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
    if len(queue) > 1:
        prefetch(shown.iloc[(pos + 1) % len(queue)], current)


@st.fragment
def triage_panel() -> None:
    with safety.guarded("the triage panel"):
        panel()


triage_panel()
