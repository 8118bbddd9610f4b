"""Text overlays: words in the photo (Tesseract OCR, Russian and English), classified.

The photo is upscaled so its shorter side is at least 256 pixels (ads are often small) and
read with Tesseract (``rus+eng``, page segmentation 6: one block). A word counts when
Tesseract is at least 70 % confident and it has at least three letters or digits (fur
texture yields short, low-confidence fragments). The score is the best counted word's
confidence; the mask covers the counted words' boxes. ``info`` lists the words with their
boxes and says whether they carry a phone number or a place (a city or district cue).

Needs the ``tesseract`` program with Russian data (Debian: ``tesseract-ocr``,
``tesseract-ocr-rus``) and the ``pytesseract`` package.
"""

from __future__ import annotations

import re

import cv2
import numpy as np

from curation.perception.base import Detection, check_inputs, empty

NAME = "text"
VERSION = "1"
THRESHOLD = 0.8
DESCRIPTION = "text overlay: words read by Tesseract OCR (rus+eng), phone numbers and places"
LANGUAGES = "rus+eng"
MIN_SIDE = 256  # OCR reads an upscaled copy whose shorter side is at least this (pixels)
MIN_CONFIDENCE = 70.0

PHONE = re.compile(r"(?:\+7|8)?[\s\-(]*\d{3}[\s\-)]*\d{3}[\s\-]*\d{2}[\s\-]*\d{2}")
# words that say "where": city names, administrative words, their usual abbreviations
PLACE_CUES = (
    "москва", "мск", "петербург", "спб", "питер", "новосибирск", "екатеринбург", "казань",
    "нижний", "новгород", "челябинск", "самара", "омск", "ростов", "уфа", "красноярск",
    "воронеж", "пермь", "волгоград", "краснодар", "саратов", "тюмень", "ижевск", "барнаул",
    "иркутск", "хабаровск", "ярославль", "владивосток", "томск", "оренбург", "кемерово",
    "рязань", "тула", "калининград", "сочи", "подмосковье", "область", "обл", "район",
    "р-н", "р-на", "мкр", "микрорайон", "улица", "ул", "проспект", "пр-т", "переулок",
    "пос", "посёлок", "поселок", "село", "деревня", "город", "метро", "жк",
)  # fmt: skip


class OcrUnavailableError(RuntimeError):
    """Tesseract or pytesseract is missing; the message says what to install."""


def _tesseract():
    try:
        import pytesseract
    except ImportError as exc:
        raise OcrUnavailableError(
            "the text detector needs pytesseract: pip install pytesseract"
        ) from exc
    try:
        languages = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise OcrUnavailableError(
            "the text detector needs the tesseract program: apt-get install tesseract-ocr "
            "tesseract-ocr-rus (or skip it with --artifacts)"
        ) from exc
    missing = set(LANGUAGES.split("+")) - languages
    if missing:
        raise OcrUnavailableError(
            f"tesseract has no {', '.join(sorted(missing))} data: apt-get install tesseract-ocr-rus"
        )
    return pytesseract


def classify(words: list[str]) -> dict[str, bool]:
    """Whether ``words`` (in reading order) carry a phone number and a place cue."""
    text = " ".join(words)
    lowered = [w.lower().strip(".,:;!?()\"'«»") for w in words]
    return {
        "phone": bool(PHONE.search(text)),
        "place": any(w in PLACE_CUES or w.rstrip("е") in PLACE_CUES for w in lowered),
    }


def read_words(photo: np.ndarray) -> list[dict]:
    """Words Tesseract reads in ``photo`` (``(H, W, 3)`` uint8): dicts with ``text``,
    ``confidence`` (0–100) and ``box`` ``[x0, y0, x1, y1]`` in the photo's pixels."""
    pytesseract = _tesseract()
    h, w = photo.shape[:2]
    scale = max(1.0, MIN_SIDE / max(min(h, w), 1))
    big = cv2.resize(photo, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
    data = pytesseract.image_to_data(
        big, lang=LANGUAGES, config="--psm 6", output_type=pytesseract.Output.DICT
    )
    words = []
    for text, conf, x, y, bw, bh in zip(data["text"], data["conf"], data["left"], data["top"],
                                        data["width"], data["height"], strict=True):  # fmt: skip
        text = str(text).strip()
        if not text:
            continue
        box = [x / scale, y / scale, (x + bw) / scale, (y + bh) / scale]
        words.append({"text": text, "confidence": float(conf), "box": [round(v, 1) for v in box]})
    return words


def detect(photo: np.ndarray, animal: np.ndarray) -> Detection:
    """Words overlaid on the photo (see the module docstring); ``animal`` is not used."""
    photo, animal = check_inputs(photo, animal)
    kept = [
        w
        for w in read_words(photo)
        if w["confidence"] >= MIN_CONFIDENCE and sum(ch.isalnum() for ch in w["text"]) >= 3
    ]
    if not kept:
        return empty(photo, VERSION, words=[], phone=False, place=False)
    mask = np.zeros(photo.shape[:2], bool)
    for w in kept:
        x0, y0, x1, y1 = w["box"]
        mask[int(y0) : int(np.ceil(y1)), int(x0) : int(np.ceil(x1))] = True
    score = max(w["confidence"] for w in kept) / 100.0
    return Detection(mask, score, VERSION, {"words": kept, **classify([w["text"] for w in kept])})
