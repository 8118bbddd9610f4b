"""The training recipe: what decides what a run learns, as recorded in ``recipe.json``.

A ``recipe.json`` is untrusted input (it is copied between machines and edited by hand): it is
read by :func:`read_recipe` (a regular file of at most 1 MB of UTF-8 JSON), and every field of a
:class:`Recipe` is checked for type and range (:data:`RECIPE_FIELDS`) before anything is
allocated; the input height and width are capped by ``WORKBENCH_MAX_SIDE``
(:func:`explain.models.limits.max_side`, default 1024 pixels).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from explain.models.limits import (
    MAX_BATCH,
    MAX_SEED,
    MAX_SIDE_ENV,
    MAX_TRAIN_EPOCHS,
    MIN_SIDE,
    LimitError,
    max_side,
    real_number,
    shown,
    whole_number,
)

AUGMENTATIONS = ("random_flip", "random_crop", "color_jitter")
# not on by default: workbench.augment (they break a shortcut; artifact_erasing needs masks)
SHORTCUT_AUGMENTATIONS = ("random_gamma", "artifact_erasing")
MAX_RECIPE_BYTES = 1 << 20  # a recipe.json is about 2 KB


class TrainingError(ValueError):
    """Training cannot start with these inputs; the message says what to change."""


@dataclass(frozen=True)
class Recipe:
    """Everything that decides what a training run learns (recorded in ``recipe.json``)."""

    arch: str = "osnet_x0_25"
    height: int = 256
    width: int = 128
    epochs: int = 60
    save_at: tuple[int, ...] = (3, 12, 30, 60)
    batch_size: int = 32
    num_instances: int = 4
    optimizer: str = "amsgrad"
    lr: float = 0.003
    weight_decay: float = 5e-4
    scheduler: str = "cosine"
    label_smooth: bool = True
    triplet_margin: float = 0.3
    # Hard-mined triplets on raw ReLU features can shrink every feature to zero (loss = margin)
    # when a model trains from scratch; on L2-normalised features (the cosine space retrieval
    # uses) the margin is relative and that collapse cannot happen.
    triplet_normalize: bool = True
    weight_softmax: float = 1.0
    weight_triplet: float = 1.0
    augment: tuple[str, ...] = AUGMENTATIONS
    seed: int = 0

    def validate(self, source: str | Path | None = None) -> None:
        """Check the type and range of every field (:data:`RECIPE_FIELDS`) and how they fit
        together; TrainingError naming ``source`` (the recipe.json), the field, its value and
        what is allowed."""
        from explain.models.adapter import available_models

        where = f"{source}: " if source is not None else ""
        for f in fields(self):
            _check_field(where, f.name, getattr(self, f.name))
        if self.arch not in available_models():
            raise TrainingError(
                f"{where}unknown architecture {self.arch!r}; choose one of torchreid's models, "
                "e.g. osnet_x0_25, osnet_x1_0, resnet50"
            )
        bad = [e for e in self.save_at if not 1 <= e <= self.epochs]
        if bad:
            raise TrainingError(
                f"{where}--save-at {bad} lies outside 1..{self.epochs}; save only epochs that "
                "are trained"
            )
        if self.batch_size % self.num_instances:
            raise TrainingError(
                f"{where}batch size {self.batch_size} must be a multiple of the photos per "
                f"identity in a batch ({self.num_instances})"
            )
        if self.weight_triplet > 0 and self.batch_size // self.num_instances < 2:
            raise TrainingError(
                f"{where}a batch of {self.batch_size} with {self.num_instances} photos per post "
                "holds one post: the triplet loss needs another post in the batch for "
                "negatives; raise --batch-size to at least twice the photos per post"
            )
        if self.weight_softmax == 0 and self.weight_triplet == 0:
            raise TrainingError(
                f"{where}weight_softmax and weight_triplet are both 0: nothing would be learned"
            )

    @property
    def checkpoints(self) -> tuple[int, ...]:
        """Epochs that get a checkpoint (the last one always does)."""
        return tuple(sorted(set(self.save_at) | {self.epochs}))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["save_at"] = list(self.save_at)
        d["augment"] = list(self.augment)
        return d

    @classmethod
    def from_dict(cls, d: object, source: str | Path | None = None) -> Recipe:
        """The recipe a ``recipe.json``'s ``"recipe"`` object describes, validated
        (:meth:`validate`); missing fields take their defaults. TrainingError naming ``source``
        for unknown fields, wrong types and values out of range."""
        where = f"{source}: " if source is not None else ""
        if not isinstance(d, dict):
            raise TrainingError(f"{where}'recipe' is {shown(d)}, not an object of fields")
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, d)) - names)
        if unknown:
            raise TrainingError(
                f"{where}recipe has unknown field(s) {unknown[:5]}; the fields are "
                f"{', '.join(sorted(names))}"
            )
        d = dict(d)
        for key in ("save_at", "augment"):
            if key in d:
                if not isinstance(d[key], list | tuple):
                    raise TrainingError(
                        f"{where}field '{key}' is {shown(d[key])}; expected a list, e.g. "
                        + ("[3, 12, 30, 60]" if key == "save_at" else '["random_flip"]')
                    )
                d[key] = tuple(d[key])
        recipe = cls(**d)
        recipe.validate(source)
        return recipe


# name -> (kind, low, high): "int" whole numbers, "float" finite reals, "bool", "str", and
# "ints" / "strs" lists (low..high bounds each element of "ints"); None: no bound
RECIPE_FIELDS: dict[str, tuple[str, float | None, float | None]] = {
    "arch": ("str", None, None),
    "height": ("int", MIN_SIDE, None),  # high: explain.models.limits.max_side(), read when checked
    "width": ("int", MIN_SIDE, None),
    "epochs": ("int", 1, MAX_TRAIN_EPOCHS),
    "save_at": ("ints", 1, MAX_TRAIN_EPOCHS),
    "batch_size": ("int", 2, MAX_BATCH),
    "num_instances": ("int", 1, MAX_BATCH),
    "optimizer": ("str", None, None),
    "lr": ("float", 1e-8, 10.0),
    "weight_decay": ("float", 0.0, 1.0),
    "scheduler": ("str", None, None),
    "label_smooth": ("bool", None, None),
    "triplet_margin": ("float", 0.0, 10.0),
    "triplet_normalize": ("bool", None, None),
    "weight_softmax": ("float", 0.0, 100.0),
    "weight_triplet": ("float", 0.0, 100.0),
    "augment": ("strs", None, None),
    "seed": ("int", 0, MAX_SEED),
}
CHOICES = {
    "optimizer": ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw"),
    "scheduler": ("cosine", "single_step", "none"),
    "augment": AUGMENTATIONS + SHORTCUT_AUGMENTATIONS,
}


def _check_field(where: str, name: str, value: object) -> None:
    kind, lo, hi = RECIPE_FIELDS[name]
    if name in ("height", "width"):
        try:
            hi = max_side()
        except LimitError as exc:
            raise TrainingError(str(exc)) from None
    bounds = f"{lo}..{hi}" if lo is not None else ""
    as_read = list(value) if isinstance(value, tuple) else value  # a JSON list, as written
    fail = f"{where}field '{name}' is {shown(as_read)}; expected "
    if kind == "int":
        number = whole_number(value)
        if number is None or isinstance(value, float) or not lo <= number <= hi:
            cap = f" (capped by {MAX_SIDE_ENV})" if name in ("height", "width") else ""
            raise TrainingError(f"{fail}a whole number in {bounds}{cap}")
    elif kind == "float":
        number = real_number(value)
        if number is None or not math.isfinite(number) or not lo <= number <= hi:
            raise TrainingError(f"{fail}a number in {bounds}")
    elif kind == "bool":
        if not isinstance(value, bool):
            raise TrainingError(f"{fail}true or false")
    elif kind == "str":
        allowed = CHOICES.get(name)
        if not isinstance(value, str) or (allowed is not None and value not in allowed):
            what = f"one of {', '.join(allowed)}" if allowed else "a name"
            raise TrainingError(f"{fail}{what}")
    elif kind == "ints":
        ok = isinstance(value, tuple | list) and all(
            whole_number(v) is not None and not isinstance(v, float) and lo <= v <= hi
            for v in value
        )
        if not ok or len(value) > hi:
            raise TrainingError(f"{fail}a list of whole numbers in {bounds}, e.g. [3, 12, 30, 60]")
    elif kind == "strs":
        allowed = CHOICES[name]
        listed = isinstance(value, tuple | list)
        if not listed or not all(isinstance(v, str) and v in allowed for v in value):
            unknown = [v for v in value if v not in allowed] if listed else []
            what = f" (unknown: {unknown[:3]})" if unknown else ""
            raise TrainingError(f"{fail}a list of {', '.join(allowed)}{what}")


def read_recipe(path: str | Path) -> tuple[Recipe, dict]:
    """The recipe recorded in a series' ``recipe.json`` and where it came from:
    ``(recipe, {"recipe": path, "sha256": hex digest of the file})``.

    The file is untrusted: it must be a regular file of at most :data:`MAX_RECIPE_BYTES`, UTF-8
    JSON with a ``"recipe"`` object whose fields pass :meth:`Recipe.from_dict`. TrainingError
    naming the file (and the field) otherwise."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        raise TrainingError(f"{path}: cannot be read ({exc.strerror}); check the path") from None
    if not stat.S_ISREG(st.st_mode):
        what = "a folder" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise TrainingError(f"{path}: {what}; give the recipe.json file of a trained series")
    if st.st_size > MAX_RECIPE_BYTES:
        raise TrainingError(
            f"{path}: {st.st_size:,} bytes, larger than a recipe.json can be "
            f"({MAX_RECIPE_BYTES:,}); give the recipe.json of a trained series"
        )
    try:
        blob = path.read_bytes()
        data = json.loads(blob.decode("utf-8"))
    except OSError as exc:
        raise TrainingError(f"{path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise TrainingError(f"{path}: not UTF-8 text, so not a workbench recipe.json") from None
    except json.JSONDecodeError as exc:
        raise TrainingError(
            f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except (RecursionError, ValueError) as exc:
        raise TrainingError(f"{path}: not a workbench recipe.json ({exc})") from None
    if not isinstance(data, dict) or "recipe" not in data:
        raise TrainingError(
            f'{path}: not a workbench recipe.json (no "recipe" object at the top level); give '
            "the recipe.json written beside a series' checkpoints"
        )
    recipe = Recipe.from_dict(data["recipe"], source=path)
    return recipe, {"recipe": str(path), "sha256": hashlib.sha256(blob).hexdigest()}
