"""Perception: animal masks and artifact detectors on generated photos with exact masks."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from curation.perception import collage, collar, glare, grass, hands, tongue
from curation.perception.catalog import CATALOG, select
from curation.perception.measure import image_level, iou, truth_sets
from curation.perception.runner import COLUMNS, detect_dataset, detect_image, regions_of
from curation.perception.silhouette import animal_mask, read_photo, threshold_mask
from curation.regions import rasterise

H, W = 256, 128


def fur(rng, colour, shape=(H, W), spread=18.0):
    """Textured fur of ``colour``: per-pixel noise, slightly blurred."""
    noise = rng.normal(0.0, spread, (*shape, 1)).astype(np.float32)
    img = np.asarray(colour, np.float32) + cv2.GaussianBlur(noise, (3, 3), 0)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def ellipse(shape, centre, axes, angle=0.0):
    m = np.zeros(shape, np.uint8)
    cv2.ellipse(m, centre, axes, angle, 0, 360, 1, -1)
    return m.astype(bool)


def animal(rng, colour=(120, 80, 50), spread=18.0):
    """A segmented 'animal': body and head ellipses of textured fur on black."""
    body = ellipse((H, W), (64, 160), (48, 70)) | ellipse((H, W), (64, 70), (32, 30))
    photo = np.zeros((H, W, 3), np.uint8)
    photo[body] = fur(rng, colour, spread=spread)[body]
    return photo, body


def put(photo, mask, colour):
    out = photo.copy()
    out[mask] = colour
    return out


@pytest.fixture
def rng():
    return np.random.default_rng(0)


# ------------------------------------------------------------------ animal masks


def test_silhouette_fills_a_dark_animal_with_holes(rng):
    body = ellipse((H, W), (64, 140), (50, 90))
    photo = np.zeros((H, W, 3), np.uint8)
    photo[body] = rng.integers(8, 15, (int(body.sum()), 1)).repeat(3, axis=1)  # black fur
    for _ in range(15):  # patches of fur as dark as the background
        x, y, r = int(rng.integers(30, 98)), int(rng.integers(80, 200)), int(rng.integers(3, 7))
        photo[ellipse((H, W), (x, y), (r, r)) & body] = 1
    photo[ellipse((H, W), (64, 140), (20, 30))] = 2  # a big dark patch inside the outline
    old = threshold_mask(photo)
    new = animal_mask(photo)
    assert new.kind == "silhouette"
    assert iou(old, body) < 0.2  # the old rule sees almost none of a black dog
    assert iou(new.mask, body) > 0.97
    assert iou(old, body) < iou(new.mask, body) - 0.5


def test_silhouette_removes_specks(rng):
    photo, body = animal(rng)
    photo[10:12, 5:7] = 200  # a 4-pixel speck far from the animal
    mask = animal_mask(photo).mask
    assert not mask[10:12, 5:7].any()
    assert iou(mask, body) > 0.97


def test_alpha_channel_is_the_mask(tmp_path, rng):
    photo, body = animal(rng)
    alpha = np.where(body, 255, 0).astype(np.uint8)
    alpha[body & (rng.random((H, W)) < 0.01)] = 100  # a few half-transparent fur pixels
    path = tmp_path / "cut.png"
    Image.fromarray(np.dstack([photo, alpha]), "RGBA").save(path)
    rgb, read_alpha = read_photo(path)
    assert np.array_equal(read_alpha, alpha)
    result = animal_mask(rgb, read_alpha)
    assert result.kind == "alpha"
    assert np.array_equal(result.mask, alpha >= 128)


def test_opaque_png_has_no_alpha(tmp_path, rng):
    photo, _ = animal(rng)
    path = tmp_path / "opaque.png"
    Image.fromarray(np.dstack([photo, np.full((H, W), 255, np.uint8)]), "RGBA").save(path)
    assert read_photo(path)[1] is None
    with pytest.raises(ValueError, match="alpha channel"):
        animal_mask(photo, method="alpha")


def test_grabcut_on_a_photo_with_a_background(rng):
    background = fur(rng, (90, 140, 170), spread=10.0)  # a bluish floor, not black
    body = ellipse((H, W), (64, 135), (38, 75))
    photo = background.copy()
    photo[body] = fur(rng, (170, 90, 40))[body]
    result = animal_mask(photo)
    assert result.kind == "grabcut"
    assert iou(result.mask, body) > 0.85


# ------------------------------------------------------------------ detectors


def test_tongue(rng):
    photo, body = animal(rng)
    t = ellipse((H, W), (64, 96), (7, 13))
    with_tongue = put(photo, t, (222, 106, 128))
    hit, miss = tongue.detect(with_tongue, body), tongue.detect(photo, body)
    assert hit.score >= tongue.THRESHOLD > miss.score
    assert iou(hit.mask, t) > 0.85
    # pink ears at the top of the head are not a tongue
    ears = ellipse((H, W), (46, 44), (5, 6)) | ellipse((H, W), (82, 44), (5, 6))
    assert tongue.detect(put(photo, ears, (222, 106, 128)), body).score < tongue.THRESHOLD


def test_grass(rng):
    photo, body = animal(rng)
    blades = np.zeros((H, W), bool)
    for x in range(20, 110, 4):
        blades[205 + (x * 7) % 20 : 232, x : x + 2] = True
    blades &= body
    green = fur(rng, (80, 150, 50), spread=25.0)
    with_grass = photo.copy()
    with_grass[blades] = green[blades]
    hit, miss = grass.detect(with_grass, body), grass.detect(photo, body)
    assert hit.score >= grass.THRESHOLD > miss.score
    assert iou(hit.mask, blades) > 0.7
    # a green cast over the whole animal is not grass
    cast = put(photo, body, (90, 150, 60))
    assert grass.detect(fur(rng, (0, 0, 0), spread=0) | cast, body).score < grass.THRESHOLD


def test_glare(rng):
    photo, body = animal(rng)
    spot = ellipse((H, W), (70, 150), (9, 6), 20)
    with_glare = put(photo, spot, (255, 252, 246))
    hit, miss = glare.detect(with_glare, body), glare.detect(photo, body)
    assert hit.score >= glare.THRESHOLD > miss.score
    assert iou(hit.mask, spot) > 0.8
    # a white animal is bright everywhere: no highlight
    white = put(photo, body, (250, 250, 250))
    assert glare.detect(white, body).score < glare.THRESHOLD


def test_hands(rng):
    photo, body = animal(rng, colour=(40, 35, 35))  # a dark dog held by a hand
    palm = ellipse((H, W), (64, 150), (22, 17)) | ellipse((H, W), (64, 200), (12, 40))
    skin = np.clip(np.asarray((227, 180, 146)) + rng.normal(0, 2, (H, W, 3)), 0, 255)
    held = photo.copy()
    held[palm] = skin.astype(np.uint8)[palm]
    hit, miss = hands.detect(held, body | palm), hands.detect(photo, body)
    assert hit.score >= hands.THRESHOLD > miss.score
    assert iou(hit.mask, palm) > 0.8


def test_collar(rng):
    photo, body = animal(rng)
    band = np.zeros((H, W), bool)
    band[98:106, :] = True
    band &= body
    hit = collar.detect(put(photo, band, (30, 60, 200)), body)
    miss = collar.detect(photo, body)
    assert hit.score >= collar.THRESHOLD > miss.score
    assert iou(hit.mask, band) > 0.85
    # a round blue spot (an eye) is no band
    eye = ellipse((H, W), (50, 66), (4, 4))
    assert collar.detect(put(photo, eye, (30, 60, 200)), body).score < collar.THRESHOLD


def test_collage(rng):
    top = fur(rng, (150, 120, 90), (128, W))
    bottom = fur(rng, (60, 90, 140), (128, W))
    joined = np.concatenate([top, bottom])
    everything = np.ones((H, W), bool)
    hit = collage.detect(joined, everything)
    single = collage.detect(fur(rng, (150, 120, 90)), everything)
    assert hit.score >= collage.THRESHOLD > single.score
    assert hit.mask[127:129].all() and not hit.mask[:100].any() and not hit.mask[160:].any()
    assert hit.info["seams"] == [{"axis": "row", "at": 128}]


def test_detectors_reject_bad_inputs(rng):
    photo, body = animal(rng)
    with pytest.raises(ValueError, match="uint8"):
        tongue.detect(photo.astype(np.float32), body)
    with pytest.raises(ValueError, match="shape"):
        tongue.detect(photo, body[:10])


def test_text_classification():
    from curation.perception.text import classify

    assert classify(["Пропал", "пёс", "+7", "916", "123-45-67"]) == {"phone": True, "place": False}
    assert classify(["Москва,", "район", "Южный"]) == {"phone": False, "place": True}
    assert classify(["шарик"]) == {"phone": False, "place": False}


def test_text_overlay_read_by_ocr(rng):
    pytest.importorskip("pytesseract")
    from PIL import ImageDraw, ImageFont

    from curation.perception import text

    try:
        text._tesseract()
    except text.OcrUnavailableError as exc:
        pytest.skip(str(exc))
    photo, body = animal(rng)
    img = Image.fromarray(photo)
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype("DejaVuSans-Bold.ttf", 14)
    draw.rectangle([4, 200, 124, 240], fill=(255, 255, 255))
    draw.text((6, 202), "Москва", font=font, fill=(0, 0, 0))
    draw.text((6, 220), "89161234567", font=font, fill=(0, 0, 0))
    hit = text.detect(np.asarray(img), body)
    assert hit.score >= text.THRESHOLD
    assert {w["text"] for w in hit.info["words"]} >= {"Москва", "89161234567"}
    assert hit.info["phone"] and hit.info["place"]
    drawn = np.zeros((H, W), bool)
    drawn[200:241, 4:125] = True
    assert hit.mask.any() and (hit.mask & ~drawn).sum() == 0
    assert text.detect(photo, body).score < text.THRESHOLD


# ------------------------------------------------------------------ catalog, runner, CLI


def test_catalog_entries_and_selection():
    assert {"hands", "tongue", "grass", "glare", "collar", "collage", "text"} <= set(CATALOG)
    for e in CATALOG.values():
        assert 0.0 < e.threshold <= 1.0 and e.version and e.description
        assert e.annotator == f"detector:{e.name}@{e.version}"
    assert [e.name for e in select("tongue,hands")] == ["hands", "tongue"]
    assert "text" not in [e.name for e in select("pixel")]
    with pytest.raises(ValueError, match="unknown detector 'paws'"):
        select("paws")


def test_regions_round_trip_to_the_mask(rng):
    mask = ellipse((H, W), (64, 100), (20, 35)) | ellipse((H, W), (30, 200), (8, 8))
    regions = regions_of(mask, "tongue", (W, H))
    assert len(regions) == 2 and all(r["kind"] == "polygon" for r in regions)
    assert iou(rasterise(regions, (W, H)), mask) > 0.95
    # at half the working resolution the points are scaled to the original file
    half = cv2.resize(mask.astype(np.uint8), (W // 2, H // 2), interpolation=cv2.INTER_NEAREST)
    scaled = rasterise(regions_of(half > 0, "tongue", (W, H)), (W, H))
    assert iou(scaled, mask) > 0.85


class DictCache:
    def __init__(self):
        self.store, self.puts = {}, 0

    def get(self, key):
        return self.store.get(key)

    def put(self, key, arrays):
        self.puts += 1
        self.store[key] = {k: np.array(v) for k, v in arrays.items()}


def _dataset(tmp_path, rng):
    for split, post, n in (("query", "101", 1), ("gallery", "101", 2), ("gallery", "202", 2)):
        (tmp_path / split).mkdir(exist_ok=True)
        for k in range(n):
            photo, _ = animal(rng)
            if post == "202":
                photo = put(photo, ellipse((H, W), (64, 96), (7, 13)), (222, 106, 128))
            Image.fromarray(photo).save(
                tmp_path / split / f"{post}_{k + 1 + (split == 'query') * 5}.png"
            )
    from curation.dataset import load_folder

    return load_folder(tmp_path)


def test_runner_cache_second_run_computes_nothing(tmp_path, rng):
    ds = _dataset(tmp_path, rng)
    cache = DictCache()
    seen = []
    first, computed = detect_dataset(
        ds, "pixel", cache=cache, progress=lambda d, t: seen.append((d, t))
    )
    n_photos, n_det = len(ds.table), len(select("pixel"))
    assert computed == n_photos * (n_det + 1)  # every detector and the animal mask
    assert seen[-1] == (n_photos, n_photos)
    puts = cache.puts
    second, computed = detect_dataset(ds, "pixel", cache=cache)
    assert computed == 0 and cache.puts == puts
    pd.testing.assert_frame_equal(first, second)
    tongues = first[first["artifact"] == "tongue"].set_index("image")
    assert tongues["detected"].to_dict() == {
        i: i.split("/")[1].startswith("202") for i in tongues.index
    }
    assert set(first["mask"]) == {"silhouette"}
    # a threshold override decides 'detected', the score stays
    loose, _ = detect_dataset(ds, "tongue", cache=cache, thresholds={"tongue": 0.0})
    assert loose["detected"].all() and (loose["threshold"] == 0.0).all()
    assert loose["score"].tolist() == tongues["score"].tolist()
    with pytest.raises(ValueError, match="not being run"):
        detect_dataset(ds, "tongue", thresholds={"hands": 0.5})


def test_detect_image_reads_only_what_is_missing(tmp_path, rng):
    ds = _dataset(tmp_path, rng)
    path = ds.path(ds.table["image"].iloc[0])
    cache = DictCache()
    _, n = detect_image(path, select("tongue"), cache=cache)
    assert n == 2  # animal mask + tongue
    rows, n = detect_image(path, select("tongue,grass"), cache=cache)
    assert n == 1  # only grass is new
    assert [r["artifact"] for r in rows] == ["tongue", "grass"]


def test_measure_image_level():
    det = pd.DataFrame({"image": ["a", "b", "c", "d"], "artifact": ["tongue"] * 4,
                        "detected": [True, True, False, False]})  # fmt: skip
    labels = ["tongue", "", "tongue;hands", None]
    truth = truth_sets(pd.DataFrame({"image": ["a", "b", "c", "d"], "artifacts": labels}))
    row = image_level(det, truth).iloc[0]
    assert (row.tp, row.fp, row.fn) == (1, 1, 1)
    assert row.precision == 0.5 and row.recall == 0.5 and row.f1 == 0.5


def test_cli_detect_writes_the_table(tmp_path, rng):
    from click.testing import CliRunner

    from workbench.cli import main

    (tmp_path / "data").mkdir()
    _dataset(tmp_path / "data", rng)
    out = tmp_path / "detections.csv"
    args = ["detect", "--data", str(tmp_path / "data"), "--out", str(out), "--artifacts", "pixel",
            "--cache", str(tmp_path / "cache"), "--threshold", "tongue=0.4"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns) == list(COLUMNS)
    assert len(table) == 5 * len(select("pixel"))
    assert set(table.loc[table["artifact"] == "tongue", "threshold"]) == {0.4}
    assert "animal mask: silhouette 5" in result.output
    assert "photos that are collages: 0.0%" in result.output
    tongue_line = next(line for line in result.output.splitlines() if line.startswith("tongue"))
    assert tongue_line.split()[1:3] == ["2", "40.0%"]  # 2 photos of 5, post 202
    assert all(json.loads(r) == [] or json.loads(r)[0]["artifact"] for r in table["region"])
    again = CliRunner().invoke(main, args)
    assert "computed 0 result(s)" in again.output
    bad = CliRunner().invoke(main, [*args[:-2], "--threshold", "tongue"])
    assert bad.exit_code != 0 and "NAME=VALUE" in bad.output


def test_real_photos_animal_mask_covers_the_threshold_mask(real_pets):
    """On real segmented photos the silhouette contains (almost) all of the old mask."""
    for path in sorted((real_pets / "query").glob("*.jpg"))[:10]:
        rgb, alpha = read_photo(path)
        new, old = animal_mask(rgb, alpha), threshold_mask(rgb)
        assert new.kind == "silhouette"
        assert (new.mask & old).sum() >= 0.97 * old.sum()
