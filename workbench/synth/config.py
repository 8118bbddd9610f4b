"""Options of the sample dataset, checked when they are built."""

from __future__ import annotations

from dataclasses import dataclass, fields

from workbench.synth.render import LOOKS

FIRST_POST_ID = 10000
LAST_POST_ID = 99999


@dataclass(frozen=True)
class SynthConfig:
    """Options of the sample dataset; the defaults are the shipped sample.

    Counts are posts (one post = one animal). ``n_test_ids`` animals appear in query and
    gallery; ``n_query_without_gallery`` extra query posts (look-alikes of test animals) have no
    gallery photo; ``n_gallery_distractors`` extra gallery-only posts, ``decoy_fraction`` of them
    decoys of a test query: first one per query with an artifact, carrying that artifact (a
    look-alike animal in ``lookalike_decoy_fraction`` of them, another animal of the species
    otherwise), then look-alikes of other queries. ``polluted_fraction`` of the train posts carry
    one artifact in every photo (the kinds in turn); ``polluted_twin_fraction`` of those, in
    groups of one post per artifact kind, show twins of one clean train animal (its build within
    a few per cent, its coat's recipe and colours), so the artifact is what tells the group's
    posts apart most easily. Test posts:
    in ``mismatch_fraction`` an artifact is on one side of the true pair only (the query's side
    in ``query_side_fraction`` of them), in ``shared_pair_fraction`` on every photo; the others
    get incidental artifacts at ``test_artifact_rate``. Rates are per photo, fractions per post.
    ``height``/``width`` are the image size in pixels.
    """

    seed: int = 0
    n_train_ids: int = 120
    n_test_ids: int = 60
    n_gallery_distractors: int = 40
    n_query_without_gallery: int = 2
    photos_min: int = 3
    photos_max: int = 6
    look: str = "segmented"
    height: int = 256
    width: int = 128
    counterfactual: bool = True
    polluted_fraction: float = 0.21
    polluted_twin_fraction: float = 1.0
    random_artifact_rate: float = 0.1
    test_artifact_rate: float = 0.12
    mismatch_fraction: float = 0.35
    query_side_fraction: float = 0.75
    shared_pair_fraction: float = 0.1
    decoy_fraction: float = 0.9
    lookalike_decoy_fraction: float = 0.5
    dog_fraction: float = 0.55
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            want = {"int": int, "float": (int, float), "bool": bool, "str": str}[str(f.type)]
            if isinstance(value, bool) != (f.type == "bool") or not isinstance(value, want):
                raise ValueError(f"{f.name} must be a {f.type}, not {value!r}")
        for name in (
            "n_train_ids",
            "n_test_ids",
            "n_gallery_distractors",
            "n_query_without_gallery",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        if self.n_posts == 0:
            raise ValueError("the dataset would be empty; set n_train_ids or n_test_ids above 0")
        if self.n_posts > LAST_POST_ID - FIRST_POST_ID + 1:
            raise ValueError(f"{self.n_posts} posts is too many; at most 90000 post ids exist")
        if self.photos_min < 2:
            raise ValueError(
                f"photos_min must be at least 2 (a test animal needs a query and a gallery "
                f"photo), not {self.photos_min}"
            )
        if self.photos_max < self.photos_min:
            raise ValueError(
                f"photos_min ({self.photos_min}) is larger than photos_max ({self.photos_max}); "
                "swap them or raise photos_max"
            )
        if self.photos_max > 50:
            raise ValueError(f"photos_max must be at most 50, not {self.photos_max}")
        if self.look not in LOOKS:
            raise ValueError(f"look must be one of {', '.join(LOOKS)}, not {self.look!r}")
        if self.height < 32 or self.width < 16:
            raise ValueError(f"images must be at least 32x16 (HxW), not {self.height}x{self.width}")
        for name in (
            "polluted_fraction",
            "polluted_twin_fraction",
            "random_artifact_rate",
            "test_artifact_rate",
            "mismatch_fraction",
            "query_side_fraction",
            "shared_pair_fraction",
            "decoy_fraction",
            "lookalike_decoy_fraction",
            "dog_fraction",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1, not {getattr(self, name)}")
        if self.mismatch_fraction + self.shared_pair_fraction > 1.0:
            raise ValueError(
                f"mismatch_fraction ({self.mismatch_fraction}) + shared_pair_fraction "
                f"({self.shared_pair_fraction}) is above 1; lower one of them"
            )
        if not 50 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be between 50 and 100, not {self.jpeg_quality}")

    @classmethod
    def preset(cls, name: str, **overrides: object) -> SynthConfig:
        """The options of a named preset (:data:`PRESETS`), with ``overrides`` on top."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        return cls(**{**PRESETS[name], **overrides})

    @property
    def n_posts(self) -> int:
        return (
            self.n_train_ids
            + self.n_test_ids
            + self.n_gallery_distractors
            + self.n_query_without_gallery
        )


#: Named option sets. ``sample``: the shipped sample. ``shortcut``: a smaller, stronger-shortcut
#: sample for controlled experiments (64x128 photos so a training run takes minutes): a third of
#: the train posts polluted, all as twin groups, most test pairs differ in an artifact and every
#: query with an artifact has a decoy carrying it.
PRESETS: dict[str, dict[str, object]] = {
    "sample": {},
    "shortcut": {
        "n_train_ids": 90,
        "n_test_ids": 70,
        "n_gallery_distractors": 70,
        "photos_min": 3,
        "photos_max": 5,
        "height": 128,
        "width": 64,
        "polluted_fraction": 0.34,
        "polluted_twin_fraction": 1.0,
        "random_artifact_rate": 0.05,
        "mismatch_fraction": 0.55,
        "query_side_fraction": 0.8,
        "shared_pair_fraction": 0.05,
        "decoy_fraction": 1.0,
        "lookalike_decoy_fraction": 0.3,
    },
}
