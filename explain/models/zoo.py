"""Which torchreid architecture a state_dict belongs to, from its key names and tensor shapes.

Each candidate is built once per process on PyTorch's ``meta`` device (no memory, no weight
initialisation cost: a few tenths of a second even for resnet50) and reduced to a *signature*:
the shapes of its body tensors plus the names of its classifier tensors. The classifier is found
by building the model for two different numbers of classes and keeping the keys whose shape
changes, so a checkpoint trained on any number of identities matches its architecture.

Candidates are tried in the order of :data:`DEFAULT_CANDIDATES` (small models first), then, only
when none of them fits, every other model torchreid knows; the first exact fit wins.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field

import torch

from explain.models.adapter import available_models, build_model

# Tried first, in this order; any other torchreid model is tried only when none of these fits.
DEFAULT_CANDIDATES = (
    "osnet_x0_25",
    "osnet_x0_5",
    "osnet_x0_75",
    "osnet_x1_0",
    "osnet_ibn_x1_0",
    "osnet_ain_x0_25",
    "osnet_ain_x0_5",
    "osnet_ain_x0_75",
    "osnet_ain_x1_0",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet50_fc512",
    "mobilenetv2_x1_0",
    "mobilenetv2_x1_4",
)
_TRACKED = "num_batches_tracked"


@dataclass(frozen=True)
class Signature:
    """Shapes of an architecture's tensors: ``body`` (all but the classifier) and ``head``
    (classifier tensors, shape without the first, class-count dimension)."""

    arch: str
    body: Mapping[str, tuple[int, ...]]
    head: Mapping[str, tuple[int, ...]]


@dataclass
class Fit:
    """How a state_dict compares with one architecture (empty lists: an exact fit)."""

    arch: str
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)  # "key: file (a, b) vs model (c, d)"
    num_classes: int | None = None  # from the classifier's first dimension; None: no classifier
    matched: int = 0

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def describe(self, limit: int = 3) -> str:
        """``"2 missing (a, b), 1 unexpected (c)"``: what keeps the state_dict from fitting."""
        parts = []
        for label, keys in (
            ("missing", self.missing),
            ("unexpected", self.unexpected),
            ("with another shape", self.mismatched),
        ):
            if keys:
                shown = ", ".join(keys[:limit]) + (", ..." if len(keys) > limit else "")
                parts.append(f"{len(keys)} key(s) {label} ({shown})")
        return "; ".join(parts) or "fits exactly"


def _is_tracked(key: str) -> bool:
    return key.endswith(_TRACKED)


@functools.cache
def signature(arch: str) -> Signature:
    """The (cached) signature of torchreid's ``arch``."""
    with torch.device("meta"):
        a = build_model(arch, 7).state_dict()
        b = build_model(arch, 13).state_dict()
    head_keys = {k for k in a if k not in b or a[k].shape != b[k].shape}
    body = {k: tuple(v.shape) for k, v in a.items() if k not in head_keys and not _is_tracked(k)}
    head = {k: tuple(a[k].shape[1:]) for k in sorted(head_keys)}
    return Signature(arch, body, head)


def compare(state_dict: Mapping[str, torch.Tensor], arch: str) -> Fit:
    """Compare a state_dict (``module.`` already stripped) with ``arch``'s signature.

    ``num_batches_tracked`` counters are ignored (old files lack them; they do not affect the
    embedding). Classifier tensors may be absent, or present with any number of classes.
    """
    sig = signature(arch)
    fit = Fit(arch)
    shapes = {k: tuple(v.shape) for k, v in state_dict.items() if not _is_tracked(k)}
    for key, shape in sig.body.items():
        if key not in shapes:
            fit.missing.append(key)
        elif shapes[key] != shape:
            fit.mismatched.append(f"{key}: file {shapes[key]} vs model {shape}")
        else:
            fit.matched += 1
    classes: set[int] = set()
    for key, shape in shapes.items():
        if key in sig.body:
            continue
        if key not in sig.head:
            fit.unexpected.append(key)
        elif len(shape) == 0 or shape[1:] != sig.head[key]:
            fit.mismatched.append(f"{key}: file {shape} vs model (N, {sig.head[key]})")
        else:
            classes.add(shape[0])
            fit.matched += 1
    present_head = [k for k in sig.head if k in shapes]
    if present_head and len(present_head) != len(sig.head):
        fit.missing += [k for k in sig.head if k not in shapes]
    if len(classes) > 1:
        fit.mismatched.append(f"classifier tensors disagree on the number of classes {classes}")
    fit.num_classes = classes.pop() if len(classes) == 1 else None
    return fit


def candidates() -> list[str]:
    """The search order: the defaults, then every other torchreid model."""
    names = available_models()
    order = [*DEFAULT_CANDIDATES, *names]
    return [n for n in dict.fromkeys(order) if n in names]


def infer(state_dict: Mapping[str, torch.Tensor], *, everywhere: bool = True) -> Fit:
    """The first candidate that fits exactly (``fit.ok``) or, when none does, the closest one
    (most tensors in place, fewest problems). ``everywhere=False``: only the default candidates."""
    closest: Fit | None = None
    names = candidates() if everywhere else [n for n in candidates() if n in DEFAULT_CANDIDATES]
    for arch in names:
        fit = compare(state_dict, arch)
        if fit.ok:
            return fit
        if closest is None or _score(fit) > _score(closest):
            closest = fit
    if closest is None:  # pragma: no cover - torchreid always has models
        raise RuntimeError("torchreid lists no models")
    return closest


def _score(fit: Fit) -> int:
    return fit.matched - len(fit.missing) - len(fit.unexpected) - len(fit.mismatched)
