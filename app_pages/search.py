"""Search: a photo of a lost or found animal -> the nearest posts in the gallery, with the match
confidence and what each side of the best match contributed (Grad-CAM, both directions)."""

from __future__ import annotations

import numpy as np
import streamlit as st

import ui
from curation.images import ImageReadError
from explain.heatmaps.explorer import Photo, photo_file
from explain.heatmaps.render import framed, overlay
from explain.models.checkpoints import LoadedModel
from explain.retrieval.lookup import embed_photos, nearest_posts
from workbench import access

UPLOADS = ui.workspace_dir() / "uploads"
# what the uploader offers; the content is checked too (access.check_upload)
UPLOAD_TYPES = sorted({s.lstrip(".") for s in access.UPLOAD_FORMATS.values()} | {"jpeg", "tiff"})

st.title("Search")
st.caption(
    "Upload a photo of an animal: the workbench embeds it with a checkpoint, searches the "
    "gallery (exact faiss search, cosine similarity) and lists the nearest posts — one post is "
    "one animal — with the calibrated confidence that the best one is the same animal."
)
ds, models = ui.dataset(), ui.series()
if ds is None or models is None:
    st.stop()
if ds.split("gallery").empty:
    st.error(
        "This dataset has no gallery photos: there is nothing to search. Add a gallery/ folder."
    )
    st.stop()
# a gallery alone is enough to search; queries only add calibration data
ev = ui.evaluation(ds, models, required=False) if not ds.split("query").empty else None
labels = ui.epoch_labels(models)
c1, c2, c3 = st.columns([2, 1, 1])
limits = access.UploadLimits.from_env()
K_SOURCE = "search.source"  # "upload" or "example": the last one the visitor touched


def _touched(source: str) -> None:
    st.session_state[K_SOURCE] = source


upload = c1.file_uploader(
    "Photo", type=UPLOAD_TYPES, key="search.upload", on_change=_touched, args=("upload",),
    help=f"Up to {limits.max_bytes / 1e6:g} MB and {limits.max_pixels / 1e6:g} megapixels.",
)  # fmt: skip
label = c2.selectbox("Checkpoint", labels, index=len(labels) - 1, key="search.epoch")
n_posts = int(c3.number_input("Posts shown", 1, 20, 5, key="search.posts"))
queries = ds.split("query")["image"].tolist()
examples = queries or ds.split("gallery")["image"].tolist()  # a gallery alone: its own photos
example = st.selectbox(
    f"…or try a {'query' if queries else 'gallery'} photo of the dataset", ["(none)", *examples],
    key="search.example", on_change=_touched, args=("example",),
    help="Its own post is not removed from the results here: a volunteer's search has no "
    "protocol, so a photo that is itself in the gallery finds itself. The last one you chose "
    "— upload or example — is searched.",
)  # fmt: skip


def uploaded_query(member: LoadedModel, checked: access.CheckedUpload) -> tuple[Photo, np.ndarray]:
    """The checked upload prepared and embedded through a temporary file, removed afterwards
    (also when this fails)."""
    with access.temporary_upload(checked, UPLOADS) as path:
        query = photo_file(path, member.input_size, name=checked.name)
        return query, embed_photos(member, [path])


if upload is None and example == "(none)":
    st.info("Upload a photo or pick one of the dataset's query photos.")
    st.stop()
member = models[labels.index(label)]
use_upload = upload is not None and (
    example == "(none)" or st.session_state.get(K_SOURCE, "upload") == "upload"
)
if use_upload:
    st.caption(f"Searching your upload **{upload.name}**" + (
        f" (not the example {example}: choose it again to search it)" if example != "(none)"
        else ""
    ))  # fmt: skip
else:
    st.caption(f"Searching the dataset photo **{example}**" + (
        f" (not your upload {upload.name}: remove it or upload again to search it)"
        if upload is not None else ""
    ))  # fmt: skip
try:
    if use_upload:
        # size, then pixels from the header, then one bounded decode: before any disk write
        query, feats = uploaded_query(
            member, access.check_upload(upload.getvalue(), upload.name, limits)
        )
    else:
        path = ds.path(example)
        query = photo_file(path, member.input_size, name=example)
        feats = embed_photos(member, [path])
except (access.AccessError, ImageReadError) as exc:
    st.error(f"This file cannot be searched: {exc}")
    st.stop()
gallery = ds.split("gallery")
found = nearest_posts(feats[0], ui.gallery_features(ds, member), gallery, posts=n_posts)
chosen = st.session_state.get(ui.K_THRESHOLD) or {}
mine = chosen.get("checkpoint") == label and ev is not None  # the Checkpoints page's calibrator
if ev is not None:
    conf = ui.confidence(
        ds, member, ev.per_query[labels.index(label)],
        method=chosen["calibration"] if mine else "logistic",
        gallery=bool(chosen["gallery"]) if mine else True,
    )  # fmt: skip
else:  # no queries: calibrate on the gallery searched among itself
    conf = ui.confidence(ds, member, ui.gallery_queries(ds, member), gallery=False)
best = found.iloc[0]
if mine:
    cut = float(chosen["threshold"])
    cut_from = (
        f"the threshold chosen on the Checkpoints page for {label} "
        f"({chosen['target']:.0%} target precision)"
    )
else:
    cut = ui.DEFAULT_THRESHOLD
    cut_from = (
        "a plain 50 % cut: no threshold was chosen on the Checkpoints page for this checkpoint "
        "and calibration (choose one there for a target precision)"
    )
if conf is not None:
    p = float(conf.predict([best["similarity"]], [best["margin"]])[0])
    verdict = "likely the same animal" if p >= cut else "probably not the same animal"
    st.metric(
        f"Best match: post {best['post_id']}", f"{p:.0%} confidence",
        f"similarity {best['similarity']:.3f}, margin {best['margin']:.3f} — {verdict}",
        delta_color="off", delta_arrow="off",
    )  # fmt: skip
    st.caption(
        f"Confidence: {conf.method} calibration of (similarity, margin) fitted on this "
        f"checkpoint's queries and gallery-vs-gallery searches (held-out ECE {conf.ece:.3f}). "
        f'"Likely the same animal" from {cut:.2f} on: {cut_from}.'
    )
truth = None
if not use_upload:
    truth = ds.table.loc[ds.table["image"] == example, "post_id"].iloc[0]
tiles = [framed(query.picture, None, 4)]
captions = ["your photo"]
for _, r in found.iterrows():
    ok = None if truth is None else str(r["post_id"]) == str(truth)
    tiles.append(framed(ui.thumbnail(ds, r["image"], member.input_size), ok, 4))
    captions.append(f"#{r['rank']} post {r['post_id']} · {r['similarity']:.3f} · "
                    f"{r['photos']} photos")  # fmt: skip
st.image(tiles, caption=captions, width=110)

st.subheader("Why the best match")
match = ui.load_photo(ds, best["image"], member.input_size)
exp = ui.explanation([member], query, ["gradcam"], {"gradcam": {}}, match=match)
if exp is not None:
    q_map = exp.query["gradcam"].heatmaps[0].map
    g_map = exp.match["gradcam"].heatmaps[0].map
    c1, c2 = st.columns(2)
    c1.image(overlay(query.picture, q_map), caption="what your photo contributed", width=160)
    c2.image(overlay(match.picture, g_map), caption=f"what {best['image']} contributed", width=160)
    st.caption(f"Grad-CAM of the pair's cosine similarity ({exp.similarity[0]:.3f}), {label}.")
